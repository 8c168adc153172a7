"""The directory's pages through the real app, on SQLite and PostgreSQL (issue 13).

Every signed-in role may search the directory and open a service (nothing about any person
is on them, so reads are not audited); nobody signed in is sent to sign in. A full service
says so on the list and its page, a closed one is left out of the search and says so on its
page, and a patient's home links to the services they can refer themselves to."""

# ruff: noqa: F401, F811 (the directory fixture is imported, then requested by name)
from __future__ import annotations

import json
import re

from support_directory import USERS, Directory, demo_documents, directory

from houseofcare.selfcare.directory_import import import_text


def _names(html: str) -> list[str]:
    return re.findall(
        r'<h3 class="nhsuk-heading-s nhsuk-u-margin-bottom-1"><a href="/services/\d+">([^<]+)</a>',
        html,
    )


def test_every_role_may_search_and_open_a_service_and_nobody_signed_out(
    directory: Directory,
) -> None:
    walk = directory.service_id("Health Walks Manchester")
    for username in USERS:
        browser = directory.browser(username)
        listed = browser.get("/services")
        assert listed.status_code == 200, username
        assert "Directory of services" in listed.text
        assert browser.get(f"/services/{walk}").status_code == 200
        assert 'href="/services"' in browser.get("/").text  # the menu and the home page
    nobody = directory.browser()
    for path in ("/services", f"/services/{walk}"):
        answer = nobody.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")


def test_the_search_lists_filters_and_pages(directory: Directory) -> None:
    browser = directory.browser("d.link_worker")
    first = browser.get("/services")
    assert "42 services found" in first.text  # the temporarily closed one is left out
    assert "Page 1 of 2" in first.text and "/services?page=2" in first.text
    names = _names(first.text)
    assert len(names) == 25 and names == sorted(names)
    assert "Memory Café" not in first.text
    walks = browser.get("/services", params={"q": "walks", "locality": "Manchester"})
    assert _names(walks.text) == ["Health Walks Manchester"]
    assert "Helps with: Loneliness and isolation, Physical health, Managing my condition" in (
        walks.text
    )
    assert "You can refer yourself" in walks.text
    own = browser.get(
        "/services",
        params={"need": "physical_health", "access": "self_referral", "locality": "Manchester"},
    )
    assert "Pulmonary rehabilitation" not in _names(own.text)
    assert "Chair-based exercise class" in _names(own.text)
    copd = browser.get("/services", params={"condition": "COPD", "kind": "rehabilitation"})
    assert _names(copd.text) == ["Pulmonary rehabilitation"]
    full = browser.get("/services", params={"q": "knit"})
    assert _names(full.text) == ["Knit and Natter"] and "Full this month" in full.text
    # nonsense in the address still shows a page (unknown values are dropped)
    odd = browser.get("/services", params={"need": "happiness", "page": "x", "kind": "?"})
    assert odd.status_code == 200 and "42 services found" in odd.text
    none = browser.get("/services", params={"q": "no such thing anywhere"})
    assert "No open service matches this search" in none.text


def test_a_service_page_shows_everything_and_how_to_get_to_it(directory: Directory) -> None:
    browser = directory.browser("d.patient")
    page = browser.get(
        f"/services/{directory.service_id('Breathe Easy Manchester: COPD peer support group')}"
    )
    text = page.text
    for shown in (
        "Demo Breathe Easy Group",
        "Chronic obstructive pulmonary disease",
        "15 of 15 left this month",
        "The second Tuesday of the month, 14:00 to 16:00",
        "Step-free access, Accessible toilet, Hearing loop",
        "Refer yourself or be referred",
        "0161 496 0102",
        'href="mailto:breatheeasy@example.org.uk"',
    ):
        assert shown in text, shown
    group = "Apna Sehat: diabetes support group in Punjabi and Urdu"
    assert "Punjabi, Urdu, English" in browser.get(f"/services/{directory.service_id(group)}").text
    closed = browser.get(f"/services/{directory.service_id('Memory Café')}").text
    assert "Temporarily closed" in closed and "not taking people at the moment" in closed
    full = browser.get(f"/services/{directory.service_id('Knit and Natter')}").text
    assert "Full this month" in full and "None left this month" in full
    assert browser.get("/services/999999").status_code == 404
    assert browser.get("/services/abc").status_code == 404
    home = browser.get("/").text
    assert 'href="/services?access=self_referral"' in home


def test_a_reimport_that_closes_a_service_takes_it_out_of_the_search(
    directory: Directory,
) -> None:
    walk = next(d for d in demo_documents() if d["name"] == "Health Walks Leeds")
    walk["status"] = "inactive"
    import_text(directory.factory, json.dumps(walk))
    browser = directory.browser("d.gp")
    assert "Health Walks Leeds" not in browser.get("/services", params={"q": "walks"}).text
    page = browser.get(f"/services/{directory.service_id('Health Walks Leeds')}").text
    assert "Not running at the moment" in page
