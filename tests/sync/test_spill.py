"""The scratch file connectors keep per-contact state in: created on first use, read and written by the page,
removed on close or when collected, usable from another thread."""

from __future__ import annotations

import gc
import threading

import pytest

from sync.spill import Scratch, ScratchBuckets, ScratchMap, ScratchSet


def test_nothing_is_created_until_first_use_and_close_removes_it(tmp_path):
    scratch = Scratch(directory=tmp_path)
    names: ScratchMap[int, str] = ScratchMap(scratch, "names")
    assert scratch.path is None and list(tmp_path.iterdir()) == []
    names.put_many([(1, "Acme"), (2, "Globex")])
    path = scratch.path
    assert path is not None and path.is_file() and path.parent.parent == tmp_path
    scratch.close()
    assert not path.parent.exists()
    assert names.get(1) is None and scratch.path != path  # used again: a new, empty file
    scratch.close()
    assert list(tmp_path.iterdir()) == []


def test_a_scratch_left_open_is_removed_when_collected(tmp_path):
    scratch = Scratch(directory=tmp_path)
    ScratchSet(scratch, "seen").add_many(["a"])
    directory = scratch.path.parent
    del scratch
    gc.collect()
    assert not directory.exists()


def test_map_reads_and_writes_by_the_page(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        labels: ScratchMap[int, str] = ScratchMap(scratch, "labels")
        labels.put_many((i, str(i * 2)) for i in range(1200))  # more keys than one IN (...) takes
        labels.put_many([(3, "replaced")])
        found = labels.get_many(range(-5, 1300))
        assert len(found) == 1200 and found[3] == "replaced" and found[1199] == "2398"
        assert labels.get(5000) is None and len(labels) == 1200
        labels.discard_many([3, 4])
        assert labels.get_many([3, 4, 5]) == {5: "10"}


def test_int_and_str_keys_stay_apart(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        names: ScratchMap[str, str] = ScratchMap(scratch, "names")
        names.put_many([("1", "text key")])
        assert names.get_many(["1"]) == {"1": "text key"}
        assert ScratchMap(scratch, "names").get_many([1]) == {}  # type: ignore[list-item]


def test_set_membership_by_the_page(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        emitted: ScratchSet[str] = ScratchSet(scratch, "emitted")
        emitted.add_many(["b", "a", "b"])
        assert len(emitted) == 2 and "a" in emitted and "c" not in emitted
        assert emitted.present(["a", "c", "b"]) == {"a", "b"}


def test_difference_pages_in_insertion_order(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        touched: ScratchSet[str] = ScratchSet(scratch, "touched")
        emitted: ScratchSet[str] = ScratchSet(scratch, "emitted")
        touched.add_many(f"{'00Q' if i % 2 else '003'}{i:05d}" for i in range(25))
        emitted.add_many(["00300004", "00Q00005"])
        leads = list(touched.difference(emitted, prefix="00Q", page=4))
        assert leads == [f"00Q{i:05d}" for i in range(1, 25, 2) if i != 5]
        assert len(list(touched.difference(emitted, page=3))) == 23
        assert list(touched.difference(emitted, prefix="00q")) == []  # key prefixes are case-sensitive
        with pytest.raises(ValueError):
            list(touched.difference(ScratchSet(Scratch(directory=tmp_path), "other")))


def test_usable_from_another_thread(tmp_path):
    """A connector's runs may come from different worker threads (never two at once)."""
    with Scratch(directory=tmp_path) as scratch:
        names: ScratchMap[int, str] = ScratchMap(scratch, "names")
        names.put_many([(1, "Acme")])
        seen: list[str | None] = []
        worker = threading.Thread(target=lambda: seen.append(names.get(1)))
        worker.start()
        worker.join()
        assert seen == ["Acme"]


def test_table_names_are_plain(tmp_path):
    with Scratch(directory=tmp_path) as scratch, pytest.raises(ValueError):
        ScratchMap(scratch, "names; DROP TABLE x")


def test_buckets_buffer_rows_and_read_them_by_owner_in_order(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        buckets: ScratchBuckets[str] = ScratchBuckets(scratch, "related", flush_every=3)
        for index in range(7):
            buckets.add(f"parent-{index % 2}", "a" if index % 3 else "d", b"%d" % index)
        rows = list(buckets.read(["parent-1", "parent-1", "missing"]))
        assert rows == [("parent-1", "a", b"1"), ("parent-1", "d", b"3"), ("parent-1", "a", b"5")]
        assert [body for _, _, body in buckets.read(["parent-0"], remove=True)] == [b"0", b"2", b"4", b"6"]
        assert list(buckets.read(["parent-0"])) == []  # removed once read
        assert len(list(buckets.read(["parent-1"]))) == 3  # the other owner's rows are kept


def test_buckets_keep_int_owners_apart_from_str(tmp_path):
    with Scratch(directory=tmp_path) as scratch:
        buckets: ScratchBuckets[int] = ScratchBuckets(scratch, "related")
        buckets.add(1, "d", b"x")
        assert list(buckets.read([1])) == [(1, "d", b"x")]
        assert list(buckets.read(["1"])) == []  # type: ignore[list-item]
