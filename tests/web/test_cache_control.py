"""Answers that may carry a contact or a secret are never stored by a cache: every staff
answer (and refusal), every answer to someone signed in, tracking and report answers.
Public static files stay cacheable."""

import itertools

import pytest

from test_access import EXPECTED, ROLES, client_as, matrix_app, request_for  # noqa: F401

#: Public answers without anything personal: a cache may keep them for anonymous callers.
PUBLIC = {"pages.index", "api.route", "api.grids", "api.health", "case_pages.report",
          "open311.discovery", "open311.service_list", "open311.service_definition",
          "open311.request_list", "open311.request_detail", "case_pages.public_case"}


@pytest.mark.parametrize("role", ROLES)
def test_every_route_as_every_role(matrix_app, role):  # noqa: F811
    counter = itertools.count()
    cached = []
    for endpoint, method in sorted(EXPECTED):
        url, query, form, body = request_for(matrix_app, endpoint, method, counter)
        r = client_as(matrix_app, role).open(url, method=method, query_string=query, data=form,
                                             json=body, headers={"X-CSRF-Token": "t" * 43})
        control = r.headers.get("Cache-Control", "")
        if endpoint == "assets.asset":
            assert "max-age=31536000" in control and "no-store" not in control, role
        elif role is not None or endpoint not in PUBLIC:
            # "no-store" (photos say "private, no-store")
            if "no-store" not in {d.strip() for d in control.split(",")}:
                cached.append((method, url, r.status_code, control))
    assert not cached


@pytest.mark.parametrize("path", ["/api/track/00000-00000", "/track/00000-00000",
                                  "/open311/v2/tokens/00000-00000.json", "/track?code=abc",
                                  "/api/cases/" + "0" * 32, "/grid/nope", "/admin/users"])
def test_refusals_and_misses_are_not_stored_either(client, path):
    r = client.get(path)
    assert r.status_code in (302, 401, 404) and r.headers.get("Cache-Control") == "no-store", path
