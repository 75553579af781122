"""Folium map builders. They return folium objects; pages embed them."""
