"""The gallery: enrol, identify, access, events, people, remove; shared with the CLI."""

import datetime
import json
import subprocess

import numpy as np
import pytest

import facecmp


@pytest.fixture
def gallery(tmp_path):
    return facecmp.Gallery(tmp_path / "people.db", create=True)


def test_opening_a_gallery_that_is_not_there(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(facecmp.GalleryNotFound) as caught:
        facecmp.Gallery(missing)
    assert str(missing) in str(caught.value) and "create=True" in str(caught.value)
    assert isinstance(caught.value, facecmp.GalleryError)
    created = facecmp.Gallery(str(missing), create=True)
    assert created.location == str(missing)
    # create=True opens an existing gallery as it is.
    assert facecmp.Gallery(missing, create=True).people() == []
    with pytest.raises(TypeError):
        facecmp.Gallery(3)


def test_enrol_and_its_refusals(gallery, data):
    first = gallery.enrol("Obama", data / "obama.jpg", external_id="44", zones=["lobby"])
    assert first.person == "Obama" and first.new_person is True and first.sample > 0
    second = gallery.enroll("Obama", (data / "obama2.jpg").read_bytes())
    assert second.new_person is False and second.sample != first.sample
    with pytest.raises(facecmp.AlreadyEnrolled):
        gallery.enrol("Obama", data / "obama.jpg")
    with pytest.raises(facecmp.MultipleFaces) as caught:
        gallery.enrol("Crowd", data / "bald_guys.jpg")
    assert str(caught.value).startswith(f"{data / 'bald_guys.jpg'}: ")
    assert "exactly one" in str(caught.value) and caught.value.reason == "multiple_faces"
    with pytest.raises(facecmp.NoFace):
        gallery.enrol("Nobody", data / "no_face.png")
    with pytest.raises(facecmp.BadImage):
        gallery.enrol("Nobody", b"not an image")
    with pytest.raises(facecmp.ImageNotFound):
        gallery.enrol("Nobody", data / "missing.jpg")
    with pytest.raises(facecmp.InvalidArgument) as caught:
        gallery.enrol("", data / "biden.jpg")
    assert isinstance(caught.value, ValueError)
    [person] = gallery.people()
    assert (person.name, person.external_id, person.samples, person.zones) == ("Obama", "44", 2, ["lobby"])


def test_identify(gallery, data):
    gallery.enrol("Obama", data / "obama.jpg")
    gallery.enrol("Biden", data / "biden.jpg")
    candidates = gallery.identify(data / "obama3.jpg")
    assert [c.person for c in candidates] == ["Obama", "Biden"]
    assert candidates[0].matched is True and candidates[1].matched is False
    assert candidates[0].similarity > candidates[1].similarity
    assert len(gallery.identify(data / "obama3.jpg", top=1)) == 1
    faces = gallery.identify(data / "bald_guys.jpg", all_faces=True)
    assert len(faces) >= 20
    areas = [f.face.box[2] * f.face.box[3] for f in faces]
    assert areas == sorted(areas, reverse=True)
    with pytest.raises(facecmp.NoFace):
        gallery.identify(data / "no_face.png")
    with pytest.raises(ValueError):
        gallery.identify(data / "obama3.jpg", top=0)


def test_access_decisions_are_recorded(gallery, data):
    gallery.enrol("Obama", data / "obama.jpg")
    nowhere = gallery.access("lobby", data / "obama3.jpg")
    assert (nowhere.allowed, nowhere.reason) == (False, "unknown_zone")
    # A grant that has expired creates the zone but lets nobody in.
    gallery.grant("Obama", "lobby", valid_until=datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc))
    expired = gallery.access("lobby", data / "obama3.jpg")
    assert (expired.allowed, expired.reason, expired.person) == (False, "not_granted", "Obama")
    gallery.grant("Obama", "lobby", valid_until=datetime.datetime(2999, 1, 1, tzinfo=datetime.timezone.utc))
    allowed = gallery.access("lobby", data / "obama3.jpg")
    assert (allowed.allowed, allowed.reason, allowed.person, allowed.zone) == (True, "granted", "Obama", "lobby")
    assert allowed.similarity >= allowed.threshold
    stranger = gallery.access("lobby", data / "biden.jpg")
    assert (stranger.allowed, stranger.reason) == (False, "unknown")
    # Bad images are denials on the record, never exceptions: the door stays shut.
    crowd = gallery.access("lobby", data / "bald_guys.jpg")
    assert (crowd.allowed, crowd.reason) == (False, "multiple_faces")
    unreadable = gallery.access("lobby", data / "missing.jpg")
    assert (unreadable.allowed, unreadable.reason) == (False, "bad_image")
    assert "missing.jpg" in unreadable.detail
    assert gallery.access("lobby", b"junk").reason == "bad_image"
    greyscale = gallery.access("lobby", np.zeros((64, 64), np.uint8))
    assert (greyscale.allowed, greyscale.reason) == (False, "bad_image")
    assert greyscale.detail.startswith("image (array of shape [64, 64]): an array image must be H×W×3")
    assert gallery.access("lobby", np.zeros((64, 64, 3), np.uint8)).reason == "no_face"
    events = gallery.events()
    assert len(events) == 9
    ids = [e.id for e in events]
    assert ids == sorted(ids, reverse=True) and ids[0] == gallery.events(limit=1)[0].id
    assert ids[3] == unreadable.event_id and ids[-1] == nowhere.event_id
    newest = [e.reason for e in gallery.events(zone="lobby", limit=4)]
    assert newest == ["no_face", "bad_image", "bad_image", "bad_image"]
    [granted] = gallery.events(decision="allow")
    assert (granted.id, granted.person, granted.allowed) == (allowed.event_id, "Obama", True)
    assert len(gallery.events(decision="deny")) == 8
    assert [e.id for e in gallery.events(reason="not_granted")] == [expired.event_id]
    assert granted.id in [e.id for e in gallery.events(since=granted.time)]
    assert gallery.events(until=granted.time - 3600) == []
    with pytest.raises(ValueError):
        gallery.events(decision="maybe")
    assert gallery.revoke("Obama", "lobby") is True
    assert gallery.revoke("Obama", "lobby") is False
    assert gallery.access("lobby", data / "obama3.jpg").reason == "not_granted"


def test_an_array_enrols_and_opens_the_door(gallery, data, pixels):
    rgb = pixels("32bit.png")  # obama2.jpg, lossless
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # as OpenCV would hold it
    enrolled = gallery.enrol("Obama", bgr[:, :, ::-1], zones=["lobby"])
    assert enrolled.new_person is True
    # The same pixels again are the same sample (its sha256 is the same).
    with pytest.raises(facecmp.AlreadyEnrolled):
        gallery.enrol("Obama", rgb)
    decision = gallery.access("lobby", data / "obama3.jpg")
    assert (decision.allowed, decision.person) == (True, "Obama")
    assert gallery.access("lobby", rgb).allowed is True
    assert gallery.identify(rgb)[0].person == "Obama"


def test_remove(gallery, data):
    gallery.enrol("Obama", data / "obama.jpg", zones=["lobby"])
    event = gallery.access("lobby", data / "obama3.jpg")
    tombstone = gallery.remove("Obama")
    assert tombstone.startswith("erased-")
    assert gallery.people() == []
    [kept] = gallery.events()
    assert (kept.id, kept.person, kept.tombstone) == (event.event_id, None, tombstone)
    with pytest.raises(facecmp.NoSuchPerson) as caught:
        gallery.remove("Obama")
    assert isinstance(caught.value, LookupError)


def test_the_cli_and_python_share_a_gallery(tmp_path, data, facecmp_bin):
    path = tmp_path / "shared.db"
    gallery = facecmp.Gallery(path, create=True)
    gallery.enrol("Obama", data / "obama.jpg", zones=["lobby"])

    def cli(*args):
        return subprocess.run([str(facecmp_bin), *args], capture_output=True, text=True, timeout=300)

    listed = cli("people", "--db", str(path), "--json")
    assert listed.returncode == 0, listed.stderr
    [person] = json.loads(listed.stdout)
    assert (person["name"], person["samples"], person["zones"]) == ("Obama", 1, ["lobby"])
    enrolled = cli("enroll", "--db", str(path), "--name", "Biden", str(data / "biden.jpg"))
    assert enrolled.returncode == 0, enrolled.stderr
    assert sorted(p.name for p in gallery.people()) == ["Biden", "Obama"]
    # Python's index follows what the CLI wrote.
    assert gallery.identify(data / "biden.jpg")[0].person == "Biden"
    decided = cli("access", "--db", str(path), "--zone", "lobby", "--json", str(data / "obama3.jpg"))
    assert decided.returncode == 0, decided.stderr
    assert gallery.events()[0].id == json.loads(decided.stdout)["event_id"]
