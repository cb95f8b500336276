"""The fast paths of list, write and auth give the same answers as the slow ones would."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from scimbridge.scim.auth import Authenticator
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.directory import Directory
from scimbridge.store.tokens import Tokens


def _user(number: int) -> dict[str, object]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"paging{number:02d}@example.com",
    }


@pytest.fixture
def repository(migrated_url: str) -> Directory:
    repository = Directory(Database(create_db_engine(migrated_url)))
    for number in range(7):
        repository.create_user(_user(number), actor="test")
    return repository


@pytest.mark.parametrize(
    ("offset", "limit", "total", "page"),
    [
        (0, 100, 7, 7),  # one short page: the total is the page
        (0, 3, 7, 3),  # a full page: the total is counted
        (3, 3, 7, 3),
        (6, 3, 7, 1),  # the last, partial page
        (7, 3, 7, 0),  # just past the end
        (50, 3, 7, 0),  # far past the end: counted, not guessed
        (0, 0, 7, 0),  # count=0 only asks for the total
        (0, 7, 7, 7),  # a page exactly as long as the result
    ],
)
def test_totals_hold_on_every_page(
    repository: Directory, offset: int, limit: int, total: int, page: int
) -> None:
    counted, rows = repository.query_users(repository.select_users(), offset, limit)
    assert (counted, len(rows)) == (total, page)


def test_totals_of_a_filter_matching_nothing(repository: Directory) -> None:
    from scim2_models import User

    from scimbridge.store.query.filters import parse_filter

    nothing = repository.select_users(parse_filter('userName eq "nobody@example.com"'), model=User)
    assert nothing.index_lookup
    assert repository.query_users(nothing, 0, 100) == (0, [])
    assert repository.query_users(nothing, 5, 100) == (0, [])


def test_concurrent_writes_of_one_user_all_land(repository: Directory) -> None:
    """Sixteen threads PATCH one user at once: none is refused, none is lost."""
    _, rows = repository.query_users(repository.select_users(), 0, 1)
    user_id = rows[0].id
    barrier = threading.Barrier(16)

    def bump(number: int) -> int:
        barrier.wait()
        stored = repository.update_user(
            user_id,
            lambda current: {**current, "displayName": f"writer {number}"},
            actor="test",
            action="patch",
        )
        return stored.version

    with ThreadPoolExecutor(16) as pool:
        versions = sorted(pool.map(bump, range(16)))
    assert versions == list(range(2, 18))
    assert repository.get_user(user_id).version == 17


def test_memory_answers_static_and_cached_tokens_only(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    tokens = Tokens(Database(engine))
    now = [0.0]
    authenticator = Authenticator(tokens, "static-secret-1234", clock=lambda: now[0])
    answered, static = authenticator.known("static-secret-1234")
    assert answered and static is not None and static.name == "static-token"
    _, secret = tokens.create_token("entra")
    assert authenticator.known(secret) == (False, None)  # only the database can tell yet
    principal = authenticator.authenticate(secret)
    assert principal is not None and principal.name == "token:entra"
    assert authenticator.known(secret) == (True, principal)
    assert authenticator.known("never-issued") == (False, None)
    assert authenticator.authenticate("never-issued") is None
    assert authenticator.known("never-issued") == (True, None)  # refusals are cached too
    tokens.revoke_token("entra")
    now[0] += 10  # past the cache: revocation shows
    assert authenticator.known(secret) == (False, None)
    assert authenticator.authenticate(secret) is None
