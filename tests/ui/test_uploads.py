"""Uploaded files: size and type limits, sanitized names, zip extraction that cannot escape its folder."""

import io
import stat
import zipfile

import pytest

from ui.uploads import UploadError, UploadPolicy, remove_uploaded, sanitize_name, stage_uploads


def make_zip(path, members: dict, symlinks: dict | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return path


def listing(folder):
    return sorted(p.name for p in folder.rglob("*"))


@pytest.mark.parametrize("name, expected", [
    ("notes.md", "notes.md"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/abs/path/report.PDF", "report.pdf"),
    ("C:\\Users\\x\\a b.md", "a_b.md"),
    ("..\\..\\evil.html", "evil.html"),
    ("<img src=x onerror=alert(1)>.md", "img_src_x_onerror_alert_1.md"),
    (".hidden.md", "hidden.md"),
    ("..", "upload"),
    ("Übersicht 2024.txt", "Übersicht_2024.txt"),
    ("x" * 500 + ".md", "x" * 117 + ".md"),
])
def test_names_are_sanitized_to_a_flat_safe_name(name, expected):
    assert sanitize_name(name) == expected


def test_files_are_copied_flat_into_the_upload_folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a b.md").write_text("# A\nHello.")
    hostile = src / "<script>x.txt"
    hostile.write_text("text")
    dest = tmp_path / "uploads"
    staged = stage_uploads([src / "a b.md", hostile, (src / "a b.md", "../../../outside.md")], dest)
    assert listing(dest) == ["a_b.md", "outside.md", "script_x.txt"]
    assert all(p.parent == dest for p in staged.paths)
    assert not (tmp_path / "outside.md").exists()
    assert (dest / "a_b.md").read_text() == "# A\nHello."


def test_unsupported_types_are_skipped_with_a_note(tmp_path):
    (tmp_path / "run.sh").write_text("echo hi")
    (tmp_path / "ok.txt").write_text("fine")
    staged = stage_uploads([tmp_path / "run.sh", tmp_path / "ok.txt"], tmp_path / "up")
    assert [p.name for p in staged.paths] == ["ok.txt"]
    assert len(staged.notes) == 1 and "run.sh" in staged.notes[0] and "unsupported" in staged.notes[0]
    assert ".pdf" in staged.notes[0]  # the note names the supported types


def test_an_oversize_file_is_refused_with_a_clear_message(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 3000)
    small = tmp_path / "small.txt"
    small.write_text("fine")
    with pytest.raises(UploadError, match=r"big\.txt is 0\.00286 MB, over the 0\.002 MB limit per file"):
        stage_uploads([small, big], tmp_path / "up", UploadPolicy(max_file_mb=0.002))
    assert listing(tmp_path / "up") == []  # all or nothing: the small file is not kept either


def test_zip_documents_are_extracted_flat_and_other_members_skipped(tmp_path):
    archive = make_zip(tmp_path / "docs.zip", {
        "docs/a.md": "# A\nalpha", "docs/sub/a.md": "# A2\nbeta", "b.html": "<p>hi</p>",
        "tool.exe": b"MZ", ".hidden/c.md": "x", "__MACOSX/docs/._a.md": "junk", "nested.zip": b"PK",
    })
    staged = stage_uploads([archive], tmp_path / "up")
    assert listing(tmp_path / "up") == ["b.html", "docs_a.md", "docs_sub_a.md"]
    assert (tmp_path / "up" / "docs_sub_a.md").read_text() == "# A2\nbeta"
    assert sorted(n.split(": ")[1] for n in staged.notes) == ["nested.zip", "tool.exe"]


@pytest.mark.parametrize("member", ["../evil.md", "docs/../../evil.md", "/etc/evil.md", "\\evil.md",
                                    "C:/evil.md", "..\\evil.md"])
def test_zip_slip_and_absolute_paths_refuse_the_whole_archive(tmp_path, member):
    archive = make_zip(tmp_path / "bad.zip", {"fine.md": "ok", member: "pwned"})
    with pytest.raises(UploadError, match="bad.zip refused"):
        stage_uploads([archive], tmp_path / "up")
    assert listing(tmp_path) == ["bad.zip", "up"]  # nothing written anywhere, not even the fine member


def test_zip_symlinks_are_refused(tmp_path):
    archive = make_zip(tmp_path / "link.zip", {"fine.md": "ok"}, symlinks={"passwd.md": "/etc/passwd"})
    with pytest.raises(UploadError, match="symbolic link"):
        stage_uploads([archive], tmp_path / "up")


def test_zip_member_and_total_size_limits_hold_even_when_the_header_lies(tmp_path):
    policy = UploadPolicy(max_file_mb=0.01, max_archive_total_mb=0.015)
    big = make_zip(tmp_path / "big.zip", {"big.md": "x" * 20000})
    with pytest.raises(UploadError, match="over the 0.01 MB limit per file"):
        stage_uploads([big], tmp_path / "up", policy)
    many = make_zip(tmp_path / "many.zip", {f"{i}.md": "y" * 6000 for i in range(3)})
    with pytest.raises(UploadError, match="over the 0.015 MB limit per archive"):
        stage_uploads([many], tmp_path / "up", policy)
    # A zip bomb whose headers understate its size is cut off at the stated size, never written out.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb.md", "z" * 50000)
    data = bytearray(buf.getvalue())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size fields
        at = data.find(sig)
        data[at + offset:at + offset + 4] = (100).to_bytes(4, "little")
    (tmp_path / "bomb.zip").write_bytes(bytes(data))
    with pytest.raises(UploadError, match="bomb.zip: bomb.md could not be unpacked"):
        stage_uploads([tmp_path / "bomb.zip"], tmp_path / "up", policy)
    assert listing(tmp_path / "up") == []


def test_not_a_zip_is_a_clear_error(tmp_path):
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(UploadError, match="fake.zip is not a readable zip archive"):
        stage_uploads([tmp_path / "fake.zip"], tmp_path / "up")


def test_same_name_twice_in_one_upload_gets_a_suffix(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "n.md").write_text("one")
    (tmp_path / "b" / "n.md").write_text("two")
    staged = stage_uploads([tmp_path / "a" / "n.md", tmp_path / "b" / "n.md"], tmp_path / "up")
    assert [p.name for p in staged.paths] == ["n.md", "n-2.md"]


def test_remove_uploaded_deletes_only_inside_the_upload_folder(tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    inside, outside = up / "x.md", tmp_path / "keep.md"
    inside.write_text("x")
    outside.write_text("y")
    assert remove_uploaded(str(outside), up) is False and outside.exists()
    assert remove_uploaded(str(up / ".." / "keep.md"), up) is False and outside.exists()
    assert remove_uploaded(str(inside), up) is True and not inside.exists()
