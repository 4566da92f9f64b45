//! The gallery with the real models and a real SQLite file: enrolment
//! review, the access rules, identification, erasure and API keys.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facecmp::{Config, Pipeline};
use facecmp_gallery::{
    EnrolPolicy, EventQuery, Gallery, GalleryError, QualityPolicy, Reason, Rejection, Role, prepare_sample,
};
use image::{ImageFormat, imageops};

const THRESHOLD: f32 = 0.363;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn pipeline() -> &'static Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(|| Pipeline::load(Config::default()).expect("bundled models load"))
}

fn new_gallery(dir: &tempfile::TempDir) -> Gallery {
    Gallery::create(&dir.path().join("gallery.db"), pipeline().embedder()).unwrap()
}

fn enrol(gallery: &Gallery, name: &str, bytes: &[u8], policy: &EnrolPolicy) -> Result<i64, Rejection> {
    let sample = prepare_sample(pipeline(), name, bytes, policy).unwrap()?;
    gallery.enrol(name, None, &sample, policy.strict).unwrap().map(|enrolled| enrolled.sample)
}

fn png(image: &image::DynamicImage) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// One of the men in bald_guys.jpg, cut out with some margin: a third
/// identity besides Obama and Biden. `mirror` gives a second, different image.
fn bald_guy(mirror: bool) -> Vec<u8> {
    let photo = pipeline().open(&data("bald_guys.jpg")).unwrap();
    let face = &photo.faces[photo.largest_face().unwrap()].bbox;
    let margin = face.width * 0.3;
    let (x, y) = ((face.x - margin).max(0.0) as u32, (face.y - margin).max(0.0) as u32);
    let side = (face.width + 2.0 * margin) as u32;
    let crop = imageops::crop_imm(&photo.image, x, y, side, side).to_image();
    let crop = if mirror { imageops::flip_horizontal(&crop) } else { crop };
    png(&image::DynamicImage::ImageRgb8(crop))
}

fn mirrored(name: &str) -> Vec<u8> {
    png(&image::load_from_memory(&read(name)).unwrap().fliph())
}

fn access(gallery: &Gallery, zone: &str, input: &str, bytes: &[u8]) -> facecmp_gallery::AccessDecision {
    gallery.access(pipeline(), zone, input, bytes, &QualityPolicy::default(), THRESHOLD).unwrap()
}

#[test]
fn the_elevator_opens_only_for_a_granted_person() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = new_gallery(&dir);
    let policy = EnrolPolicy::default();
    enrol(&gallery, "Obama", &read("obama.jpg"), &policy).unwrap();
    enrol(&gallery, "Guy", &bald_guy(false), &policy).unwrap();
    gallery.grant("Obama", "5", None, None).unwrap();

    let allowed = access(&gallery, "5", "obama2.jpg", &read("obama2.jpg"));
    assert!(allowed.allowed, "{allowed:?}");
    assert_eq!(allowed.reason, Reason::Granted);
    assert_eq!(allowed.person.as_deref(), Some("Obama"));
    assert!(allowed.similarity.unwrap() >= THRESHOLD);

    let cases = [
        ("biden.jpg", read("biden.jpg"), Reason::Unknown),
        ("guy (mirrored)", bald_guy(true), Reason::NotGranted),
        ("no_face.png", read("no_face.png"), Reason::NoFace),
        ("bald_guys.jpg", read("bald_guys.jpg"), Reason::MultipleFaces),
        ("not_an_image.txt", read("not_an_image.txt"), Reason::BadImage),
        ("truncated.jpg", read("truncated.jpg"), Reason::BadImage),
    ];
    for (input, bytes, expected) in cases {
        let decision = access(&gallery, "5", input, &bytes);
        assert!(!decision.allowed, "{input}: {decision:?}");
        assert_eq!(decision.reason, expected, "{input}: {decision:?}");
    }
    // A zone nobody has created denies too; it is not an error.
    assert_eq!(access(&gallery, "13", "obama2.jpg", &read("obama2.jpg")).reason, Reason::UnknownZone);

    // Every decision is in the audit trail, newest first, with its reason.
    let events = gallery.events(&EventQuery { limit: 100, ..EventQuery::default() }).unwrap();
    assert_eq!(events.len(), 8);
    assert_eq!(events.last().unwrap().decision, "allow");
    assert_eq!(events.last().unwrap().person.as_deref(), Some("Obama"));
    assert_eq!(events.iter().filter(|e| e.decision == "deny").count(), 7);
    assert_eq!(events[0].reason, "unknown_zone");
    let denied_in_5 = EventQuery {
        zone: Some("5".into()),
        decision: Some("deny".into()),
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(gallery.events(&denied_in_5).unwrap().len(), 6);
}

#[test]
fn a_zone_can_admit_photos_with_several_faces() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = new_gallery(&dir);
    enrol(&gallery, "Guy", &bald_guy(false), &EnrolPolicy::default()).unwrap();
    gallery.grant("Guy", "lobby", None, None).unwrap();
    assert_eq!(
        access(&gallery, "lobby", "bald_guys.jpg", &read("bald_guys.jpg")).reason,
        Reason::MultipleFaces
    );
    gallery.set_zone("lobby", true).unwrap();
    // The largest face in the group photo is the enrolled man.
    let decision = access(&gallery, "lobby", "bald_guys.jpg", &read("bald_guys.jpg"));
    assert_eq!(decision.reason, Reason::Granted, "{decision:?}");
}

#[test]
fn grants_are_valid_only_inside_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = new_gallery(&dir);
    enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    let now = facecmp_gallery::gallery::now();
    gallery.grant("Obama", "5", Some(now - 3600), Some(now - 60)).unwrap();
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::NotGranted);
    gallery.grant("Obama", "5", Some(now - 60), None).unwrap();
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::Granted);
    assert!(gallery.revoke("Obama", "5").unwrap());
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::NotGranted);
    assert!(matches!(gallery.grant("Obama", "5", Some(now), Some(now)), Err(GalleryError::Invalid(_))));
}

#[test]
fn enrolment_refuses_unfit_photos_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = new_gallery(&dir);
    let policy = EnrolPolicy::default();
    assert_eq!(enrol(&gallery, "X", &read("no_face.png"), &policy), Err(Rejection::NoFace));
    assert!(matches!(
        enrol(&gallery, "X", &read("bald_guys.jpg"), &policy),
        Err(Rejection::MultipleFaces { count }) if count > 20
    ));
    assert!(matches!(
        enrol(&gallery, "X", &read("not_an_image.txt"), &policy),
        Err(Rejection::BadImage { .. })
    ));
    let small = png(&image::load_from_memory(&read("obama.jpg")).unwrap().thumbnail(150, 150));
    assert!(matches!(enrol(&gallery, "X", &small, &policy), Err(Rejection::TooSmall { .. })));
    // Nobody was created by refused photos.
    assert!(gallery.people().unwrap().is_empty());

    enrol(&gallery, "Obama", &read("obama.jpg"), &policy).unwrap();
    assert_eq!(enrol(&gallery, "Obama", &read("obama.jpg"), &policy), Err(Rejection::AlreadyEnrolled));

    let strict = EnrolPolicy { strict: Some(THRESHOLD), ..policy };
    let rejection = enrol(&gallery, "Barack", &read("obama2.jpg"), &strict).unwrap_err();
    assert!(matches!(&rejection, Rejection::CloserToOther { other, own: None, .. } if other == "Obama"));
    // Biden's photo filed under Obama's name is closer to Biden.
    enrol(&gallery, "Biden", &read("biden.jpg"), &strict).unwrap();
    let rejection = enrol(&gallery, "Obama", &mirrored("biden.jpg"), &strict).unwrap_err();
    assert!(matches!(&rejection, Rejection::CloserToOther { other, own: Some(_), .. } if other == "Biden"));
    enrol(&gallery, "Obama", &read("obama3.jpg"), &strict).unwrap();
    assert_eq!(gallery.person("Obama").unwrap().samples, 2);
}

#[test]
fn identify_ranks_people_by_their_best_sample_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    let gallery = Gallery::create(&path, pipeline().embedder()).unwrap();
    let policy = EnrolPolicy::default();
    enrol(&gallery, "Obama", &read("obama.jpg"), &policy).unwrap();
    enrol(&gallery, "Obama", &read("obama3.jpg"), &policy).unwrap();
    enrol(&gallery, "Biden", &read("biden.jpg"), &policy).unwrap();
    enrol(&gallery, "Guy", &bald_guy(false), &policy).unwrap();
    gallery.grant("Biden", "5", None, None).unwrap();

    let photo = pipeline().open(&data("obama2.jpg")).unwrap();
    let (_, query) = pipeline().embed_one(&photo, facecmp::FaceChoice::Largest).unwrap();
    let found = gallery.identify(&query, 3, None, THRESHOLD).unwrap();
    assert_eq!(found.iter().map(|f| f.person.as_str()).collect::<Vec<_>>().len(), 3);
    assert_eq!(found[0].person, "Obama");
    assert!(found[0].matched && !found[1].matched);
    assert!(found.windows(2).all(|pair| pair[0].similarity >= pair[1].similarity));

    // Within zone 5 only Biden is a candidate, and he does not match.
    let in_zone = gallery.identify(&query, 3, Some("5"), THRESHOLD).unwrap();
    assert_eq!(in_zone.len(), 1);
    assert_eq!(in_zone[0].person, "Biden");
    assert!(!in_zone[0].matched);

    drop(gallery);
    let reopened = Gallery::open(&path, pipeline().embedder()).unwrap();
    assert_eq!(reopened.sample_count(), 4);
    assert_eq!(reopened.identify(&query, 3, None, THRESHOLD).unwrap(), found);
}

#[test]
fn a_gallery_refuses_another_embedder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    drop(Gallery::create(&path, pipeline().embedder()).unwrap());
    let mut other = pipeline().embedder().clone();
    other.sha256 = "0".repeat(64);
    let error = Gallery::open(&path, &other).err().unwrap();
    assert!(matches!(error, GalleryError::EmbedderMismatch { .. }), "{error}");
    assert!(error.to_string().contains("gallery.db"), "{error}");
    assert!(matches!(Gallery::create(&path, &other), Err(GalleryError::AlreadyExists { .. })));
    let not_sqlite = dir.path().join("photo.db");
    std::fs::copy(data("obama.jpg"), &not_sqlite).unwrap();
    assert!(Gallery::open(&not_sqlite, pipeline().embedder()).is_err());
}

#[test]
fn erasing_a_person_leaves_no_trace_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    let gallery = Gallery::create(&path, pipeline().embedder()).unwrap();
    let policy = EnrolPolicy::default();
    enrol(&gallery, "Obama", &read("obama.jpg"), &policy).unwrap();
    enrol(&gallery, "Obama", &read("obama3.jpg"), &policy).unwrap();
    enrol(&gallery, "Biden", &read("biden.jpg"), &policy).unwrap();
    gallery.grant("Obama", "5", None, None).unwrap();
    gallery.grant("Biden", "5", None, None).unwrap();
    assert!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).allowed);
    assert!(access(&gallery, "5", "biden.jpg", &mirrored("biden.jpg")).allowed);
    let obama = gallery.person("Obama").unwrap();
    let sample_hashes: Vec<String> =
        gallery.samples(Some("Obama")).unwrap().into_iter().map(|s| s.image_sha256).collect();
    let probe_hash = facecmp_gallery::image_sha256(&read("obama2.jpg"));
    let embedding = {
        let photo = pipeline().open(&data("obama.jpg")).unwrap();
        pipeline().embed_one(&photo, facecmp::FaceChoice::Largest).unwrap().1
    };

    let tombstone = gallery.remove_person("Obama").unwrap();
    drop(gallery);

    // Every table, every column: nothing refers to Obama any more.
    let db = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 7, "{tables:?}");
    let mut needles = vec!["Obama".to_string(), probe_hash.clone()];
    needles.extend(sample_hashes.iter().cloned());
    for table in &tables {
        let dump = dump_table(&db, table).unwrap();
        for needle in &needles {
            assert!(!dump.contains(needle.as_str()), "table {table} still holds {needle}");
        }
    }
    let person_rows: i64 = db
        .query_row(
            "SELECT (SELECT COUNT(*) FROM samples WHERE person_id = ?1) + (SELECT COUNT(*) FROM grants WHERE person_id = ?1)
                  + (SELECT COUNT(*) FROM events WHERE person_id = ?1) + (SELECT COUNT(*) FROM people WHERE id = ?1)",
            [obama.id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(person_rows, 0);
    // The decision itself stays, under the tombstone.
    let (decision, reason, similarity): (String, String, Option<f64>) = db
        .query_row(
            "SELECT decision, reason, similarity FROM events WHERE tombstone = ?1",
            [&tombstone],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!((decision.as_str(), reason.as_str(), similarity), ("allow", "granted", None));
    // Biden is untouched.
    let biden_samples: i64 = db.query_row("SELECT COUNT(*) FROM samples", [], |row| row.get(0)).unwrap();
    assert_eq!(biden_samples, 1);
    drop(db);

    // Nor do the file's bytes: deleted rows were overwritten, not just unlinked.
    let mut file = std::fs::read(&path).unwrap();
    if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
        file.extend(wal);
    }
    let vector: Vec<u8> = embedding.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
    assert!(!contains(&file, &vector[..64]), "an embedding of Obama is still in the file");
    for needle in &needles {
        assert!(!contains(&file, needle.as_bytes()), "the file still holds {needle}");
    }
}

fn dump_table(db: &rusqlite::Connection, table: &str) -> rusqlite::Result<String> {
    let mut statement = db.prepare(&format!("SELECT * FROM {table}"))?;
    let columns = statement.column_count();
    let mut rows = statement.query([])?;
    let mut dump = String::new();
    while let Some(row) = rows.next()? {
        for column in 0..columns {
            dump.push_str(&format!("{:?}|", row.get_ref(column)?));
        }
    }
    Ok(dump)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn api_keys_authenticate_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = new_gallery(&dir);
    let (key, token) = gallery.create_key("lift-5", Role::Camera).unwrap();
    assert_eq!(gallery.authenticate(&token).unwrap().map(|k| k.role), Some(Role::Camera));
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('0') { '1' } else { '0' });
    assert_eq!(gallery.authenticate(&forged).unwrap(), None);
    assert_eq!(gallery.authenticate("").unwrap(), None);
    assert_eq!(gallery.authenticate("fck_999_abc").unwrap(), None);
    gallery.revoke_key(key.id).unwrap();
    assert_eq!(gallery.authenticate(&token).unwrap(), None);
    assert!(matches!(gallery.revoke_key(4242), Err(GalleryError::NoSuchKey(4242))));
    // Only a digest is stored.
    let stored = std::fs::read(gallery.path()).unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(!contains(&stored, secret.as_bytes()));
}
