"""One export, one transaction: all files or none, whatever moment the process dies."""

import os

import pytest

from napari_fuzzy_people.io import transaction as tx_module
from napari_fuzzy_people.io.errors import ExportError
from napari_fuzzy_people.io.transaction import Transaction, locked, recover

FILES = {"shared": ["photo.jpg", "manifest.json"], "private": ["photo.people.png", "record.json"]}


class Killed(BaseException):
    """The process dies here (nothing after it runs)."""


@pytest.fixture
def folders(tmp_path):
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    return shared, private


def stage_all(tx, shared, private):
    for folder, key in ((shared, "shared"), (private, "private")):
        for name in FILES[key]:
            tx.stage(folder / name, lambda f, n=name: f.write(n.encode()))


def contents(*folders):
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for d in folders for p in d.iterdir()}


def finished():
    return {f"{k}/{n}": n.encode() for k, names in FILES.items() for n in names}


def test_a_commit_writes_every_file_and_nothing_else(folders):
    with Transaction() as tx:
        stage_all(tx, *folders)
        tx.commit()
    assert contents(*folders) == finished()


def test_leaving_without_a_commit_leaves_nothing(folders):
    with pytest.raises(KeyboardInterrupt), Transaction() as tx:
        stage_all(tx, *folders)
        raise KeyboardInterrupt
    assert contents(*folders) == {}


@pytest.mark.parametrize("survive", range(6))
@pytest.mark.parametrize("order", ["shared first", "private first"])
def test_a_kill_at_any_rename_is_finished_or_undone_by_recovery(
    folders, monkeypatch, survive, order
):
    # Renames during a commit: 1 secondary journal, 1 primary journal (the
    # commit point), then the 4 files; `survive` of them happen, then death.
    real_replace = os.replace
    done = []

    def replace(src, dst):
        if len(done) == survive:
            raise Killed
        done.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed), Transaction() as tx:
        stage_all(tx, *folders)
        tx.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    # Whatever is visible under a final name is whole.
    for name, data in contents(*folders).items():
        if not name.split("/")[1].startswith("."):
            assert data == name.split("/")[1].encode()
    shared, private = folders
    for folder in (shared, private) if order == "shared first" else (private, shared):
        recover(folder)
    recover(shared)  # the export folder is always recovered by the next export
    committed = survive >= 2
    assert contents(*folders) == (finished() if committed else {})


def test_a_kill_while_staging_leaves_only_temporaries_that_recovery_removes(folders):
    shared, private = folders
    tx = Transaction()
    stage_all(tx, shared, private)  # then the process dies: no rollback runs
    assert all(n.split("/")[1].startswith(".fuzzy-people-") for n in contents(*folders))
    assert recover(shared) == 2 and recover(private) == 2
    assert contents(*folders) == {}


def test_recovery_leaves_other_files_alone_and_removes_old_temporaries(folders):
    shared, _ = folders
    keep = [".hidden", "notes.part", "a_fuzzy.jpg", ".x.part"]
    old = [".a_fuzzy.jpg.abc_1234.part", ".a_fuzzy.jpg.record.json.k2j4h5g6.part"]
    for name in keep + old:
        (shared / name).write_bytes(b"x")
    assert recover(shared) == len(old)
    assert sorted(p.name for p in shared.iterdir()) == sorted(keep)


def test_a_damaged_journal_is_reported_not_guessed(folders):
    shared, _ = folders
    journal = shared / ".fuzzy-people-0123456789ab.journal"
    journal.write_text("{not json")
    with pytest.raises(ExportError, match=r"0123456789ab\.journal: an unreadable export journal"):
        recover(shared)
    assert journal.exists()


def test_a_symbolic_link_at_the_final_name_is_never_followed(folders, tmp_path):
    shared, _ = folders
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"precious")
    (shared / "photo.jpg").symlink_to(outside)
    (shared / "dangling.jpg").symlink_to(tmp_path / "nowhere.txt")
    for name in ("photo.jpg", "dangling.jpg"):
        with pytest.raises(ExportError, match="is a symbolic link"), Transaction() as tx:
            tx.stage(shared / name, lambda f: f.write(b"evil"))
    assert outside.read_bytes() == b"precious"
    assert not (tmp_path / "nowhere.txt").exists()
    assert sorted(p.name for p in shared.iterdir()) == ["dangling.jpg", "photo.jpg"]


def test_a_link_that_appears_before_the_commit_is_replaced_not_followed(folders, tmp_path):
    shared, _ = folders
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(b"precious")
    with pytest.raises(ExportError, match="is a symbolic link"), Transaction() as tx:
        tx.stage(shared / "a.txt", lambda f: f.write(b"new"), check=lambda final: None)
        (shared / "a.txt").symlink_to(outside)  # planted between staging and commit
        tx.commit()
    assert outside.read_bytes() == b"precious"


def test_one_export_at_a_time_per_folder(folders):
    shared, private = folders
    with locked(shared, private):
        with pytest.raises(ExportError, match="another export is writing into this folder"):
            with locked(private, wait=0.1):
                pass
    with locked(private):  # released
        pass


def test_temporary_names_are_recognised(folders):
    shared, _ = folders
    tx = Transaction()
    tx.stage(shared / "a", lambda f: f.write(b"a"))
    (name,) = [p.name for p in shared.iterdir()]
    assert tx_module._PART.match(name)
    tx.rollback()
