"""Level 1 and the house of care's left wall: supported self care.

The directory of statutory, voluntary, community and self-help services (Open Referral UK),
matching a person's needs to them, referrals (FHIR ServiceRequest) and their loop back to the
care plan, patient activation, and the unmet need the commissioning plan adds up (issue 13).
"""
