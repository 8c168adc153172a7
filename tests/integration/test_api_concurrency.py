"""Many clients updating the same care plan with If-Match over real HTTP: no lost update.

A real uvicorn server runs in a thread against a fresh PostgreSQL database; client threads
each read the plan, change its title and PUT it with the ETag they read, over and over. Every
version may be won by exactly one client: the successes' versions are all different and
consecutive, every loser gets 412 and writes nothing, and the final version is the number of
successes + 1 with the history holding every one of them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import create_care_plan
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine

CLIENTS = 8
ATTEMPTS = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, make_postgres_database: Callable[[str], str]
) -> Iterator[tuple[str, int]]:
    """A uvicorn server on PostgreSQL with one plan; its base URL and the plan id."""
    url = make_postgres_database("concurrency")
    engine = make_engine(url)
    upgrade_engine(engine)
    with transaction(session_factory(engine)) as session:
        practice = create_organisation(session, ods_code="Y0009", name="P", type="practice")
        person = create_person(session, nhs_number="9434765919", practice_id=practice.id)
        create_user(
            session,
            username="race.nurse",
            password="pw-race",
            role="nurse",
            display_name="Nurse",
            organisation_id=practice.id,
        )
        plan_id = create_care_plan(session, person.id, SYSTEM, title="start").id
    folder: Path = tmp_path_factory.mktemp("race")
    app = create_app(Settings(data_dir=folder, database_url=url))
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", plan_id
    uv.should_exit = True
    thread.join(timeout=10)
    app.state.services.engine.dispose()
    engine.dispose()


def test_concurrent_updates_lose_nothing(server: tuple[str, int]) -> None:
    base, plan_id = server
    token = httpx.post(
        f"{base}/auth/token", data={"username": "race.nurse", "password": "pw-race"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/fhir/CarePlan/{plan_id}"
    won: list[int] = []
    lost: list[int] = []
    unexpected: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        with httpx.Client(headers=headers, timeout=30) as http:
            start.wait()
            for attempt in range(ATTEMPTS):
                read = http.get(url)
                version = int(read.headers["ETag"].split('"')[1])
                body = read.json() | {"title": f"client {number} attempt {attempt}"}
                response = http.put(
                    url,
                    json=body,
                    headers={"If-Match": f'W/"{version}"', "Content-Type": "application/fhir+json"},
                )
                with lock:
                    if response.status_code == 200:
                        won.append(int(response.headers["ETag"].split('"')[1]))
                    elif response.status_code == 412:
                        lost.append(version)
                    else:
                        unexpected.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    assert len(won) + len(lost) == CLIENTS * ATTEMPTS
    assert lost, "the clients never collided; the test proved nothing"
    assert sorted(won) == list(range(2, len(won) + 2)), "one success per version, none skipped"
    final = httpx.get(url, headers=headers)
    assert final.headers["ETag"] == f'W/"{len(won) + 1}"'
    history = httpx.get(f"{url}/_history", headers=headers).json()
    versions = [int(e["resource"]["meta"]["versionId"]) for e in history["entry"]]
    assert sorted(versions) == list(range(1, len(won) + 2))
    titles = {e["resource"]["title"] for e in history["entry"]}
    assert len(titles) == len(won) + 1, "every winning change is kept in the history"
