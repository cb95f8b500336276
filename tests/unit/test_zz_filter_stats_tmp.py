from collections import Counter

from hypothesis import HealthCheck, given, settings
from scim2_models import InvalidFilterException, ScimFilter

from tests.unit.test_filters_reference import (
    _FILTERS,
    REFERENCE_USERS,
    UserModel,
    user_ids,
)

stats = Counter()


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(expression=_FILTERS)
def test_hard(directory, expression):
    try:
        bound = ScimFilter[UserModel](expression)
        expected = {u.id for u in REFERENCE_USERS if bound.match(u)}
    except InvalidFilterException:
        stats["invalid"] += 1
        return
    got = user_ids(directory, expression)
    stats[
        "empty" if not expected else "all" if len(expected) == len(REFERENCE_USERS) else "some"
    ] += 1
    assert got == expected, expression


def test_zz_report():
    print(dict(stats))
