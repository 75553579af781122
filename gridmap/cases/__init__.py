"""Cases: categories, and (to come) states, transitions and deadlines. No Flask here."""
