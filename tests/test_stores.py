"""The session stores on their own: round trips, the login lock, refusals, secrets.

The multi-process behaviour with clients (one login per expiry event, a killed lock
holder) is in ``tests/client/test_multiprocess.py``.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aioneo import (
    FileSessionStore,
    MemorySessionStore,
    RedisSessionStore,
    SessionStore,
    SessionStoreError,
    StoredSession,
)

from .redis_support import redis_key, redis_url  # noqa: F401 (fixtures)

TOKEN = "eyJhbGciOi.SECRET-TOKEN-PAYLOAD.signature"
SID = "SECRET-SID-5f0c"


def record(generation: int = 1, **changes: object) -> StoredSession:
    fields: dict[str, object] = {
        "generation": generation,
        "account": "AB123",
        "token": TOKEN,
        "sid": SID,
        "base_url": "https://gw.example/e21",
        "issued_at": 1000.0,
        "expires_at": 4600.0,
        "totp_step": 33,
    }
    fields.update(changes)
    return StoredSession(**fields)  # type: ignore[arg-type]


def assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error)):
        assert TOKEN not in text
        assert SID not in text
        assert "SECRET" not in text


def test_every_store_is_a_session_store(tmp_path: Path) -> None:
    assert isinstance(MemorySessionStore(), SessionStore)
    assert isinstance(FileSessionStore(tmp_path / "s.json"), SessionStore)
    assert not isinstance(object(), SessionStore)


# -- memory ---------------------------------------------------------------------------


def test_memory_store_round_trip_and_lock() -> None:
    store = MemorySessionStore()
    assert store.load() is None
    store.save(record(2))
    loaded = store.load()
    assert loaded is not None
    assert loaded.generation == 2
    assert store.acquire_lock("a", 60.0)
    assert store.acquire_lock("a", 60.0)  # the holder again: still held, lease renewed
    assert not store.acquire_lock("b", 60.0)
    store.release_lock("b")  # not the holder: nothing happens
    assert not store.acquire_lock("b", 60.0)
    store.release_lock("a")
    assert store.acquire_lock("b", 60.0)


def test_memory_store_lease_ends_by_itself() -> None:
    store = MemorySessionStore()
    assert store.acquire_lock("dead-thread", 0.0)  # a lease that has already run out
    assert store.acquire_lock("next", 60.0)


# -- file ------------------------------------------------------------------------------


def test_file_store_round_trip_mode_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "accounts" / "AB123.json"
    store = FileSessionStore(path)
    assert store.load() is None
    store.save(record(1))
    store.save(record(2))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == ["AB123.json"]  # no temp files
    loaded = FileSessionStore(path).load()
    assert loaded == record(2)
    assert TOKEN not in repr(store)


def test_file_store_save_does_not_follow_umask_or_old_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    old = os.umask(0)
    try:
        FileSessionStore(path).save(record())
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": 1, "token": "' + TOKEN.encode() + b'"', b"\xff\xfe", b"[]"],
)
def test_file_store_refuses_a_corrupted_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(SessionStoreError, match="refused") as info:
        FileSessionStore(path).load()
    assert str(path) in str(info.value)
    assert_no_secret(info.value)


def test_file_store_refuses_a_stored_session_with_a_bad_field(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = FileSessionStore(path)
    store.save(record())
    payload = json.loads(path.read_text())
    payload["sid"] = 12345
    path.write_text(json.dumps(payload))
    with pytest.raises(SessionStoreError, match="'sid'") as info:
        store.load()
    assert_no_secret(info.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
def test_file_store_refuses_a_file_other_users_can_access(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "s.json"
    store = FileSessionStore(path)
    store.save(record())
    path.chmod(mode)
    with pytest.raises(SessionStoreError, match=f"mode {oct(mode)}.*other users") as info:
        store.load()
    assert "chmod 600" in str(info.value)
    assert_no_secret(info.value)


def test_file_store_refuses_a_file_of_another_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    store = FileSessionStore(path)
    store.save(record())
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)
    with pytest.raises(SessionStoreError, match=f"belongs to user id {me}") as info:
        store.load()
    assert_no_secret(info.value)
    with pytest.raises(SessionStoreError, match="belongs to user id"):
        store.acquire_lock("x", 10.0)  # the lock file is checked the same way


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_file_store_refuses_a_file_really_owned_by_another_user(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    FileSessionStore(path).save(record())
    os.chown(path, 65534, 65534)
    with pytest.raises(SessionStoreError, match="belongs to user id 65534"):
        FileSessionStore(path).load()


def test_file_store_refuses_a_symlink_and_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    FileSessionStore(target).save(record())
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(SessionStoreError, match="symbolic link"):
        FileSessionStore(link).load()
    directory = tmp_path / "dir.json"
    directory.mkdir(mode=0o700)
    with pytest.raises(SessionStoreError, match="not a regular file"):
        FileSessionStore(directory).load()


def test_file_store_write_failure_is_a_store_error(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    with pytest.raises(SessionStoreError, match="cannot be written") as info:
        FileSessionStore(blocked / "s.json").save(record())
    assert_no_secret(info.value)


def test_file_store_lock_is_exclusive_between_store_objects(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    first, second = FileSessionStore(path), FileSessionStore(path)
    assert first.acquire_lock("a", 60.0)
    assert first.acquire_lock("a", 60.0)
    assert not second.acquire_lock("b", 60.0)
    assert not first.acquire_lock("c", 60.0)  # another owner in the same store object
    second.release_lock("b")
    first.release_lock("a")
    assert second.acquire_lock("b", 60.0)
    lock = tmp_path / "s.json.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    second.release_lock("b")


def test_file_store_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    code = textwrap.dedent(
        f"""
        import sys, time
        from aioneo import FileSessionStore
        assert FileSessionStore({str(path)!r}).acquire_lock("child", 3600.0)
        print("held", flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        store = FileSessionStore(path)
        assert not store.acquire_lock("parent", 60.0)
        child.kill()  # SIGKILL: no cleanup code runs in the child
        child.wait(10)
        assert store.acquire_lock("parent", 60.0)  # the kernel dropped the child's lock
        store.release_lock("parent")
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_file_store_child_after_fork_does_not_release_the_parents_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = FileSessionStore(path)
    assert store.acquire_lock("parent", 60.0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = not store._held and not store.acquire_lock("child", 60.0)
        store.release_lock("parent")  # forgotten in the child: must not unlock the parent
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not FileSessionStore(path).acquire_lock("other", 60.0)  # still the parent's
    store.release_lock("parent")


def test_file_store_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="path must be"):
        FileSessionStore(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="StoredSession"):
        FileSessionStore(tmp_path / "s.json").save({"token": TOKEN})  # type: ignore[arg-type]


# -- redis -----------------------------------------------------------------------------


def test_redis_store_without_the_package_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'aioneo\[redis\]'"):
        RedisSessionStore("redis://127.0.0.1:6379/0")


def test_redis_store_argument_errors_hide_the_password() -> None:
    pytest.importorskip("redis")
    with pytest.raises(ValueError, match="url must be") as info:
        RedisSessionStore("http://user:hunter2@host/")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="key"):
        RedisSessionStore("redis://h/0", key="")


def test_redis_store_connection_error_hides_the_password() -> None:
    pytest.importorskip("redis")
    store = RedisSessionStore("redis://:hunter2@127.0.0.1:1/0", socket_timeout=2.0)
    assert "hunter2" not in repr(store)
    with pytest.raises(SessionStoreError, match="reading failed") as info:
        store.load()
    assert "127.0.0.1:1" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_redis_store_round_trip_and_lock(redis_url: str, redis_key: str) -> None:  # noqa: F811
    import redis

    store = RedisSessionStore(redis_url, key=redis_key)
    other = RedisSessionStore(redis_url, key=redis_key)
    assert store.load() is None
    store.save(record(4))
    assert other.load() == record(4)
    assert store.acquire_lock("a", 60.0)
    assert store.acquire_lock("a", 30.0)  # renewed by the holder
    assert not other.acquire_lock("b", 60.0)
    client = redis.Redis.from_url(redis_url)
    try:
        assert 0 < client.pttl(redis_key + ":lock") <= 30_000
        other.release_lock("b")  # compare-and-delete: not the holder, nothing happens
        assert client.get(redis_key + ":lock") == b"a"
        store.release_lock("a")
        assert client.get(redis_key + ":lock") is None
        assert other.acquire_lock("b", 60.0)
        other.release_lock("b")
    finally:
        client.delete(redis_key, redis_key + ":lock")
        client.close()


def test_redis_store_lease_ends_by_itself(redis_url: str, redis_key: str) -> None:  # noqa: F811
    import time

    store = RedisSessionStore(redis_url, key=redis_key)
    assert store.acquire_lock("killed-holder", 0.001)  # a 1 ms lease
    deadline = time.monotonic() + 5.0
    while not store.acquire_lock("next", 60.0):
        assert time.monotonic() < deadline, "the lease never ended"
        time.sleep(0.005)
    store.release_lock("next")


def test_redis_store_refuses_a_corrupted_value(redis_url: str, redis_key: str) -> None:  # noqa: F811
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set(redis_key, '{"token": "' + TOKEN + '", broken')
        with pytest.raises(SessionStoreError, match="not valid JSON") as info:
            RedisSessionStore(redis_url, key=redis_key).load()
        assert_no_secret(info.value)
        client.set(redis_key, json.dumps({"format": 1, "token": TOKEN, "sid": SID}))
        with pytest.raises(SessionStoreError, match="refused") as info:
            RedisSessionStore(redis_url, key=redis_key).load()
        assert_no_secret(info.value)
    finally:
        client.delete(redis_key)
        client.close()
