"""The pages: server-rendered NHS.UK design system pages in the same app `hoc serve` runs.

A thin layer, like the FHIR routes, over the same services: the sign-in of `api/routes/auth.py`
(with its throttle and audit), the credentials of `api/credentials.py`, the access decision of
`careplan/access.py` and the policy of `careplan/policy.toml`. Every page works without
JavaScript; the Content-Security-Policy allows no inline script. See docs/pages.md.
"""

from houseofcare.web.app import mount_pages

__all__ = ["mount_pages"]
