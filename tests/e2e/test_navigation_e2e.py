"""Every page can be opened by its own address, on a server nobody has visited yet."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import wait_for_app_idle

PAGES = {
    "": "What genre is this?",  # Classify, the default page, lives at /
    "explore": "Explore a sound",
    "model": "The model behind the verdict",
    "train": "Train a genre model",
}
LINKS = ["Classify", "Explore", "Model", "Train"]


def _links(page) -> list[str]:
    texts = page.locator('[data-testid="stPageLink"]').all_inner_texts()
    return [t.split("\n")[-1].strip() for t in texts]


@pytest.mark.parametrize("first", ["explore", "model"])
def test_a_first_visit_straight_to_a_page_shows_the_navigation(fresh_app_url, page, first):
    # Streamlit runs pages/<name>.py alone (its first multipage mode) for the first visit
    # of a fresh server to /<name>, unless the page reruns through app.py
    page.goto(f"{fresh_app_url}/{first}")
    wait_for_app_idle(page)
    page.get_by_text(PAGES[first]).first.wait_for()
    page.locator('[data-testid="stPageLink"]').first.wait_for()
    assert _links(page) == LINKS
    assert page.url.rstrip("/").endswith(f"/{first}")  # still the page that was asked for
    assert not page.get_by_text("Page not found").count()
    for name, title in PAGES.items():  # and every other address, straight away
        page.goto(f"{fresh_app_url}/{name}")
        wait_for_app_idle(page)
        page.get_by_text(title).first.wait_for()
        page.locator('[data-testid="stPageLink"]').first.wait_for()
        assert _links(page) == LINKS, name
        assert not page.get_by_text("Page not found").count(), name
