//! The gallery with the real models and a real store: enrolment review, the
//! access rules, identification, erasure, API keys, console sessions, and
//! several handles on one store following each other.
//!
//! The suite runs once per backend (see `on_every_backend!` at the end): on an
//! SQLite file, and on a real PostgreSQL server when one can be started.
//! Tests about the SQLite file's bytes are SQLite's alone.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report

#[path = "support/postgres.rs"]
mod postgres_harness;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, OnceLock};

use facecmp::{Config, Pipeline};
use facecmp_gallery::store::{DecisionRecord, Evidence};
use facecmp_gallery::{
    AccessContext, AppearanceBatch, Decision, EnrolPolicy, EventQuery, FaceBox, FaceVector, Gallery,
    GalleryError, GalleryLocation, NewAppearance, NewSource, Probe, QualityPolicy, Reason, Rejection, Role,
    SourceKind, ZonePolicy, prepare_sample, prepare_sample_from_crop,
};
use image::{ImageFormat, imageops};
use sha2::{Digest, Sha256};

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

/// A fresh, empty place for a gallery on one backend; dropped, it goes.
pub struct Place {
    location: GalleryLocation,
    _dir: Option<tempfile::TempDir>,
    _database: Option<postgres_harness::Database>,
}

impl Place {
    fn create(&self) -> Gallery {
        Gallery::create(&self.location, pipeline().embedder()).unwrap()
    }

    fn open(&self) -> Gallery {
        Gallery::open(&self.location, pipeline().embedder()).unwrap()
    }

    fn sqlite_path(&self) -> Option<&Path> {
        match &self.location {
            GalleryLocation::Sqlite(path) => Some(path),
            GalleryLocation::Postgres(_) => None,
        }
    }
}

fn sqlite() -> Option<Place> {
    let dir = tempfile::tempdir().unwrap();
    let location = GalleryLocation::Sqlite(dir.path().join("gallery.db"));
    Some(Place { location, _dir: Some(dir), _database: None })
}

fn postgres() -> Option<Place> {
    if cfg!(not(feature = "postgres")) {
        eprintln!("skipped: facecmp-gallery built without feature `postgres`");
        return None;
    }
    let database = postgres_harness::database()?;
    Some(Place {
        location: GalleryLocation::Postgres(database.url.clone()),
        _dir: None,
        _database: Some(database),
    })
}

fn embedding_of(name: &str) -> facecmp::Embedding {
    let photo = pipeline().open(&data(name)).unwrap();
    pipeline().embed_one(&photo, facecmp::FaceChoice::Largest).unwrap().1
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

fn the_elevator_opens_only_for_a_granted_person(place: &Place) {
    let gallery = place.create();
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
    assert_eq!(events.last().unwrap().decision, Decision::Allow);
    assert_eq!(events.last().unwrap().reason, Reason::Granted);
    assert_eq!(events.last().unwrap().person.as_deref(), Some("Obama"));
    assert_eq!(events.iter().filter(|e| e.decision == Decision::Deny).count(), 7);
    assert_eq!(events[0].reason, Reason::UnknownZone);
    let denied_in_5 = EventQuery {
        zone: Some("5".into()),
        decision: Some(Decision::Deny),
        limit: 100,
        ..EventQuery::default()
    };
    assert_eq!(gallery.events(&denied_in_5).unwrap().len(), 6);
}

fn a_zone_can_admit_photos_with_several_faces(place: &Place) {
    let gallery = place.create();
    enrol(&gallery, "Guy", &bald_guy(false), &EnrolPolicy::default()).unwrap();
    gallery.grant("Guy", "lobby", None, None).unwrap();
    assert_eq!(
        access(&gallery, "lobby", "bald_guys.jpg", &read("bald_guys.jpg")).reason,
        Reason::MultipleFaces
    );
    gallery.set_zone("lobby", &ZonePolicy { allow_multiple_faces: true, ..ZonePolicy::default() }).unwrap();
    // The largest face in the group photo is the enrolled man.
    let decision = access(&gallery, "lobby", "bald_guys.jpg", &read("bald_guys.jpg"));
    assert_eq!(decision.reason, Reason::Granted, "{decision:?}");
}

fn grants_are_valid_only_inside_their_window(place: &Place) {
    let gallery = place.create();
    enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    let now = facecmp_gallery::gallery::now();
    gallery.grant("Obama", "5", Some(now - 3600), Some(now - 60)).unwrap();
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::NotGranted);
    gallery.grant("Obama", "5", Some(now - 60), None).unwrap();
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::Granted);
    assert!(gallery.revoke("Obama", "5").unwrap());
    assert_eq!(access(&gallery, "5", "obama2.jpg", &read("obama2.jpg")).reason, Reason::NotGranted);
    assert!(matches!(
        gallery.grant("Obama", "5", Some(now), Some(now)),
        Err(GalleryError::EmptyWindow { .. })
    ));
}

fn enrolment_refuses_unfit_photos_with_a_reason(place: &Place) {
    let gallery = place.create();
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

fn identify_ranks_people_by_their_best_sample_and_survives_a_reopen(place: &Place) {
    let gallery = place.create();
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
    let reopened = place.open();
    assert_eq!(reopened.sample_count(), 4);
    assert_eq!(reopened.identify(&query, 3, None, THRESHOLD).unwrap(), found);
}

fn a_gallery_refuses_another_embedder(place: &Place) {
    drop(place.create());
    let mut other = pipeline().embedder().clone();
    other.sha256 = "0".repeat(64);
    let error = Gallery::open(&place.location, &other).err().unwrap();
    assert!(matches!(error, GalleryError::EmbedderMismatch { .. }), "{error}");
    assert!(error.to_string().contains(&place.location.to_string()), "{error}");
    assert!(matches!(Gallery::create(&place.location, &other), Err(GalleryError::AlreadyExists { .. })));
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
    // A run of bytes from the middle of each thumbnail (their JPEG headers are alike).
    let thumbnail_bytes: Vec<Vec<u8>> = gallery
        .samples(Some("Obama"))
        .unwrap()
        .iter()
        .map(|sample| {
            let jpeg = gallery.sample_thumbnail("Obama", sample.id).unwrap().expect("a thumbnail");
            jpeg[jpeg.len() / 2..jpeg.len() / 2 + 64].to_vec()
        })
        .collect();
    assert_eq!(thumbnail_bytes.len(), 2);
    let embedding = {
        let photo = pipeline().open(&data("obama.jpg")).unwrap();
        pipeline().embed_one(&photo, facecmp::FaceChoice::Largest).unwrap().1
    };
    // Obama seen by a camera, and matched: the appearance goes with him.
    let seen = prepare_sample(pipeline(), "obama2.jpg", &read("obama2.jpg"), &policy).unwrap().unwrap();
    let seen_thumbnail = seen.thumbnail_jpeg.clone().unwrap();
    let seen_vector: Vec<u8> = seen.embedding.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
    let lift = gallery
        .upsert_source(&NewSource {
            kind: SourceKind::Camera,
            name: "lift".into(),
            sha256: None,
            retention_s: None,
        })
        .unwrap();
    let appearance = NewAppearance {
        track: 1,
        media_start_ms: 0,
        media_end_ms: 1_000,
        wall_start_ms: None,
        wall_end_ms: None,
        face: FaceBox::default(),
        detector_score: 0.95,
        vectors: vec![FaceVector {
            vector: seen.embedding.as_slice().to_vec(),
            embedder_sha256: pipeline().embedder().sha256.clone(),
        }],
        thumbnail_jpeg: Some(seen_thumbnail.clone()),
        person: Some(obama.id),
        cluster: None,
    };
    let batch =
        AppearanceBatch { source: lift.id, appearances: vec![appearance], ..AppearanceBatch::default() };
    gallery.write_appearances(&batch).unwrap();

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
                  + (SELECT COUNT(*) FROM events WHERE person_id = ?1) + (SELECT COUNT(*) FROM people WHERE id = ?1)
                  + (SELECT COUNT(*) FROM appearances) + (SELECT COUNT(*) FROM appearance_vectors)",
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
    for thumbnail in &thumbnail_bytes {
        assert!(!contains(&file, thumbnail), "a face thumbnail of Obama is still in the file");
    }
    let picture = &seen_thumbnail[seen_thumbnail.len() / 2..seen_thumbnail.len() / 2 + 64];
    assert!(!contains(&file, picture), "the thumbnail of Obama's appearance is still in the file");
    assert!(!contains(&file, &seen_vector[..64]), "the vector of Obama's appearance is still in the file");
}

/// Every enrolled sample keeps its face as a thumbnail for the console —
/// shown only for its own person — and it goes with the sample.
fn samples_keep_a_face_thumbnail_until_removed(place: &Place) {
    let gallery = place.create();
    let sample = enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    enrol(&gallery, "Biden", &read("biden.jpg"), &EnrolPolicy::default()).unwrap();
    assert!(gallery.samples(None).unwrap().iter().all(|s| s.has_thumbnail));

    let jpeg = gallery.sample_thumbnail("Obama", sample).unwrap().expect("Obama's sample has a thumbnail");
    let thumbnail = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap();
    let side = facecmp_gallery::crops::CROP_SIZE;
    assert_eq!((thumbnail.width(), thumbnail.height()), (side, side));
    // It is the enrolled face: the detector finds one, and it is Obama.
    let photo = pipeline().open_bytes("thumbnail", &jpeg).unwrap();
    assert_eq!(photo.faces.len(), 1);
    let (_, seen) = pipeline().embed_one(&photo, facecmp::FaceChoice::Largest).unwrap();
    assert!(seen.cosine(&embedding_of("obama.jpg")).unwrap() > 0.8);

    assert_eq!(gallery.sample_thumbnail("Biden", sample).unwrap(), None, "only under its own person");
    assert!(gallery.remove_sample(sample).unwrap());
    assert_eq!(gallery.sample_thumbnail("Obama", sample).unwrap(), None);
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

fn api_keys_authenticate_until_revoked(place: &Place) {
    let gallery = place.create();
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
    if let Some(path) = place.sqlite_path() {
        let stored = std::fs::read(path).unwrap();
        let secret = token.rsplit('_').next().unwrap();
        assert!(!contains(&stored, secret.as_bytes()));
    }
}

/// Two handles on one store, as two processes or two service nodes have:
/// each sees the other's enrolments and erasures at its next request.
fn handles_follow_each_other(place: &Place) {
    let a = place.create();
    let b = place.open();
    let policy = EnrolPolicy::default();
    a.set_zone("5", &ZonePolicy::default()).unwrap();
    let obama2 = read("obama2.jpg");
    assert_eq!(access(&b, "5", "obama2.jpg", &obama2).reason, Reason::Unknown);

    enrol(&a, "Obama", &read("obama.jpg"), &policy).unwrap();
    a.grant("Obama", "5", None, None).unwrap();
    let query = embedding_of("obama2.jpg");
    assert_eq!(b.identify(&query, 1, None, THRESHOLD).unwrap()[0].person, "Obama");
    assert_eq!(b.sample_count(), 1);
    let allowed = access(&b, "5", "obama2.jpg", &obama2);
    assert!(allowed.allowed, "{allowed:?}");

    // A revoked grant and an erasure on A hold on B at once.
    a.revoke("Obama", "5").unwrap();
    assert_eq!(access(&b, "5", "obama2.jpg", &obama2).reason, Reason::NotGranted);
    a.grant("Obama", "5", None, None).unwrap();
    let sample = enrol(&a, "Obama", &read("obama3.jpg"), &policy).unwrap();
    assert!(b.remove_sample(sample).unwrap());
    assert_eq!(a.identify(&query, 5, None, THRESHOLD).unwrap().len(), 1);
    assert_eq!(a.sample_count(), 1);
    a.remove_person("Obama").unwrap();
    let denied = access(&b, "5", "obama2.jpg", &obama2);
    assert_eq!(denied.reason, Reason::Unknown, "{denied:?}");
    assert_eq!(denied.person, None);
    assert!(b.identify(&query, 5, None, THRESHOLD).unwrap().is_empty());
    assert_eq!(b.sample_count(), 0);
    // The erasure reached B's audit trail too: B's allow is under a tombstone.
    let events = b.events(&EventQuery { decision: Some(Decision::Allow), ..EventQuery::default() }).unwrap();
    assert!(events.iter().all(|e| e.person.is_none() && e.tombstone.is_some()), "{events:?}");
}

/// `enroll --strict` twice at once, in two handles: one face is accepted
/// under one name only.
fn concurrent_strict_enrolments_accept_a_face_once(place: &Place) {
    let handles = [Arc::new(place.create()), Arc::new(place.open())];
    let policy = EnrolPolicy { strict: Some(THRESHOLD), ..EnrolPolicy::default() };
    for (round, photo) in [read("obama.jpg"), read("biden.jpg"), bald_guy(false)].into_iter().enumerate() {
        let sample = prepare_sample(pipeline(), "photo", &photo, &policy).unwrap().unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = handles
            .iter()
            .enumerate()
            .map(|(i, gallery)| {
                let (gallery, barrier, sample) = (gallery.clone(), barrier.clone(), sample.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    gallery.enrol(&format!("person-{round}-{i}"), None, &sample, policy.strict).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let accepted = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(accepted, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().any(|o| matches!(o, Err(Rejection::CloserToOther { own: None, .. }))),
            "{outcomes:?}"
        );
    }
    assert_eq!(handles[0].people().unwrap().len(), 3);
}

/// Names from clients are checked at every write, the access zone included:
/// a refused name is `Invalid` and leaves no row behind.
fn unusable_names_are_refused_and_never_stored(place: &Place) {
    let gallery = place.create();
    let huge = "5".repeat(10_000_000);
    let probe = Probe::refuse(Reason::NoFace, "test".into());
    for zone in [huge.as_str(), "5\nallowed=true reason=granted", "lift\u{202E}5", "", " "] {
        let refused = gallery.decide_access(zone, &probe, None, THRESHOLD);
        assert!(matches!(refused, Err(GalleryError::Invalid(_))), "{:?}", zone.get(..20));
        assert!(matches!(gallery.set_zone(zone, &ZonePolicy::default()), Err(GalleryError::Invalid(_))));
        let refused = gallery.access(
            pipeline(),
            zone,
            "obama2.jpg",
            &read("obama2.jpg"),
            &QualityPolicy::default(),
            THRESHOLD,
        );
        assert!(matches!(refused, Err(GalleryError::Invalid(_))));
    }
    let sample = prepare_sample(pipeline(), "obama.jpg", &read("obama.jpg"), &EnrolPolicy::default())
        .unwrap()
        .unwrap();
    for name in ["Eve\nMallory", "\u{2066}Obama", &"x".repeat(201)] {
        assert!(matches!(gallery.enrol(name, None, &sample, None), Err(GalleryError::Invalid(_))));
    }
    let context = AccessContext { zone: "5", source: Some("cam\u{1b}[31m"), ..AccessContext::default() };
    assert!(matches!(gallery.decide_access_with(&context, &probe, THRESHOLD), Err(GalleryError::Invalid(_))));
    assert!(gallery.events(&EventQuery::default()).unwrap().is_empty());
    assert!(gallery.zones().unwrap().is_empty());
    assert!(gallery.people().unwrap().is_empty());
    assert!(matches!(
        gallery.create_scoped_key("cam", Role::Camera, &["5\n6".to_string()]),
        Err(GalleryError::Invalid(_))
    ));
}

/// Events read back typed, with the camera and track that asked.
fn events_record_source_and_track(place: &Place) {
    let gallery = place.create();
    enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    gallery.grant("Obama", "5", None, None).unwrap();
    let probe = facecmp_gallery::probe(
        pipeline(),
        "obama2.jpg",
        &read("obama2.jpg"),
        &QualityPolicy::default(),
        false,
    );
    let context = AccessContext { zone: "5", image_sha256: None, source: Some("lobby-cam"), track: Some(42) };
    let decision = gallery.decide_access_with(&context, &probe, THRESHOLD).unwrap();
    assert!(decision.allowed, "{decision:?}");
    gallery.decide_access("5", &Probe::refuse(Reason::NoFace, "none".into()), None, THRESHOLD).unwrap();

    let events = gallery.events(&EventQuery::default()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].decision, events[0].reason, events[0].source.as_deref()),
        (Decision::Deny, Reason::NoFace, None)
    );
    assert_eq!((events[1].decision, events[1].reason), (Decision::Allow, Reason::Granted));
    assert_eq!((events[1].source.as_deref(), events[1].track), (Some("lobby-cam"), Some(42)));
    assert_eq!(events[1].id, decision.event_id);
    let by_source = EventQuery { source: Some("lobby-cam".into()), ..EventQuery::default() };
    assert_eq!(gallery.events(&by_source).unwrap().len(), 1);
    let by_reason = EventQuery { reason: Some(Reason::NoFace), ..EventQuery::default() };
    assert_eq!(gallery.events(&by_reason).unwrap().len(), 1);
    let by_person = EventQuery { person: Some("Obama".into()), ..EventQuery::default() };
    assert_eq!(gallery.events(&by_person).unwrap()[0].id, decision.event_id);
    // JSON keeps the codes it always had.
    let json = serde_json::to_value(&events[1]).unwrap();
    assert_eq!((json["decision"].as_str(), json["reason"].as_str()), (Some("allow"), Some("granted")));
}

/// A zone that keeps crops, for `seconds`.
fn keeping_crops(seconds: i64) -> ZonePolicy {
    ZonePolicy { probe_crops_retention_s: Some(seconds), ..ZonePolicy::default() }
}

/// Probe crops are kept only in a zone that asks, only for probes with a
/// face, and go when the zone stops keeping them.
fn probe_crops_are_kept_only_where_a_zone_asks(place: &Place) {
    let gallery = place.create();
    enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    gallery.grant("Obama", "5", None, None).unwrap();
    gallery.grant("Obama", "lobby", None, None).unwrap();

    // Off by default.
    assert_eq!(gallery.zone("5").unwrap().unwrap().probe_crops_retention_s, None);
    let plain = access(&gallery, "5", "obama2.jpg", &read("obama2.jpg"));
    assert!(plain.allowed, "{plain:?}");
    assert!(gallery.probe_crop(plain.event_id).unwrap().is_none());

    let zone = gallery.set_zone("lobby", &keeping_crops(86_400)).unwrap();
    assert_eq!(zone.probe_crops_retention_s, Some(86_400));
    let kept = access(&gallery, "lobby", "obama2.jpg", &read("obama2.jpg"));
    assert!(kept.allowed, "{kept:?}");
    let stored = gallery.probe_crop(kept.event_id).unwrap().expect("the lobby keeps crops");
    assert_eq!((stored.zone.as_str(), stored.expires - stored.time), ("lobby", 86_400));
    let jpeg = &stored.crop.jpeg;
    assert!(jpeg.starts_with(&[0xff, 0xd8]) && jpeg.len() < 16 << 10, "{} bytes", jpeg.len());
    let image = image::load_from_memory(jpeg).unwrap();
    assert_eq!((image.width(), image.height()), (160, 160));
    // A refused photo has no face to keep.
    let no_face = access(&gallery, "lobby", "no_face.png", &read("no_face.png"));
    assert!(gallery.probe_crop(no_face.event_id).unwrap().is_none());
    let events = gallery.events(&EventQuery::default()).unwrap();
    let with_crops: Vec<i64> = events.iter().filter(|e| e.has_probe_crop).map(|e| e.id).collect();
    assert_eq!(with_crops, [kept.event_id]);

    // The crop is the face: reviewed like an uploaded photo, it matches Obama.
    let sample =
        prepare_sample_from_crop(pipeline(), &stored.crop, &EnrolPolicy::default()).unwrap().unwrap();
    let found = gallery.identify(&sample.embedding, 1, None, THRESHOLD).unwrap();
    assert_eq!(found[0].person, "Obama");
    assert!(found[0].matched, "{found:?}");
    // ... held to the original photo's face too.
    let mut small = stored.crop.clone();
    small.face_size = 40.0;
    let refused = prepare_sample_from_crop(pipeline(), &small, &EnrolPolicy::default()).unwrap();
    assert!(matches!(refused, Err(Rejection::TooSmall { .. })), "{refused:?}");

    // Retention out of bounds is refused and changes nothing.
    for seconds in [-1, 0, 59, 366 * 86_400] {
        let refused = gallery.set_zone("lobby", &keeping_crops(seconds));
        assert!(matches!(refused, Err(GalleryError::Invalid(_))), "{seconds}: {refused:?}");
    }
    assert!(gallery.probe_crop(kept.event_id).unwrap().is_some());

    // Turning crops off deletes the zone's crops.
    gallery.set_zone("lobby", &ZonePolicy::default()).unwrap();
    assert!(gallery.probe_crop(kept.event_id).unwrap().is_none());
    assert!(!gallery.events(&EventQuery::default()).unwrap().iter().any(|e| e.has_probe_crop));
    assert_eq!(gallery.purge_expired_probe_crops().unwrap(), 0);
}

/// Crops past their zone's retention are never shown and are deleted: by
/// the next decision, by a purge, and at once when the retention shrinks.
fn probe_crops_are_purged_after_their_retention(place: &Place) {
    let gallery = place.create();
    let hour = keeping_crops(3_600);
    gallery.set_zone("lobby", &hour).unwrap();
    let probe = facecmp_gallery::probe_for_zone(
        pipeline(),
        "obama2.jpg",
        &read("obama2.jpg"),
        &QualityPolicy::default(),
        &hour,
    );
    let crop = probe.crop().expect("a zone that keeps crops gets the probe's").clone();
    let now = facecmp_gallery::gallery::now();
    // Decisions recorded in the past, as the store lets a test date them.
    let record_at = |time: i64| {
        let record = DecisionRecord {
            zone: "lobby",
            time,
            evidence: Evidence::Matches(&[]),
            threshold: THRESHOLD,
            image_sha256: None,
            source: None,
            track: None,
            probe_crop: Some(&crop),
        };
        gallery.store().decide_and_record(&record).unwrap().event_id
    };

    let old = record_at(now - 7_200);
    assert!(gallery.probe_crop(old).unwrap().is_none(), "expired an hour ago: never shown");
    assert_eq!(gallery.purge_expired_probe_crops().unwrap(), 1);
    assert_eq!(gallery.purge_expired_probe_crops().unwrap(), 0);

    // Every decision deletes what has expired, in any zone.
    record_at(now - 7_200);
    let fresh = access(&gallery, "5", "no_face.png", &read("no_face.png"));
    assert!(!fresh.allowed);
    assert_eq!(gallery.purge_expired_probe_crops().unwrap(), 0);

    // A shorter retention applies to the crops already kept.
    let recent = record_at(now - 600);
    assert!(gallery.probe_crop(recent).unwrap().is_some());
    gallery.set_zone("lobby", &keeping_crops(300)).unwrap();
    assert!(gallery.probe_crop(recent).unwrap().is_none());
    assert_eq!(gallery.purge_expired_probe_crops().unwrap(), 0, "deleted with the change");
    // And a longer one too.
    let kept = record_at(now - 200);
    gallery.set_zone("lobby", &keeping_crops(86_400)).unwrap();
    assert_eq!(gallery.probe_crop(kept).unwrap().unwrap().expires, now - 200 + 86_400);
}

/// Erasing a person deletes the crops of the decisions about them, and the
/// crops that were enrolled as their samples; nobody else's.
fn erasing_a_person_deletes_their_probe_crops(place: &Place) {
    let gallery = place.create();
    let policy = EnrolPolicy::default();
    enrol(&gallery, "Obama", &read("obama.jpg"), &policy).unwrap();
    enrol(&gallery, "Biden", &read("biden.jpg"), &policy).unwrap();
    gallery.set_zone("lobby", &keeping_crops(86_400)).unwrap();
    let obama = access(&gallery, "lobby", "obama2.jpg", &read("obama2.jpg"));
    let biden = access(&gallery, "lobby", "biden.jpg", &mirrored("biden.jpg"));
    let guy = access(&gallery, "lobby", "guy", &bald_guy(false));
    assert_eq!(obama.person.as_deref(), Some("Obama"));
    assert_eq!(guy.reason, Reason::Unknown, "{guy:?}");
    // The stranger's probe becomes a sample of a new person.
    let guy_crop = gallery.probe_crop(guy.event_id).unwrap().unwrap().crop;
    let sample = prepare_sample_from_crop(pipeline(), &guy_crop, &policy).unwrap().unwrap();
    gallery.enrol("Guy", None, &sample, None).unwrap().unwrap();

    gallery.remove_person("Guy").unwrap();
    assert!(gallery.probe_crop(guy.event_id).unwrap().is_none(), "the crop enrolled as Guy's sample");
    gallery.remove_person("Obama").unwrap();
    assert!(gallery.probe_crop(obama.event_id).unwrap().is_none());
    assert!(gallery.probe_crop(biden.event_id).unwrap().is_some(), "Biden's stays");

    // In an SQLite file, not even the bytes of the erased crops remain.
    if let Some(path) = place.sqlite_path() {
        let biden_crop = gallery.probe_crop(biden.event_id).unwrap().unwrap().crop.jpeg;
        drop(gallery);
        let mut file = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
            file.extend(wal);
        }
        // The picture itself, not the JPEG header every crop shares.
        let picture = |jpeg: &[u8]| jpeg[jpeg.len() - 300..jpeg.len() - 44].to_vec();
        assert!(!contains(&file, &picture(&guy_crop.jpeg)), "the erased crop is still in the file");
        assert!(contains(&file, &picture(&biden_crop)), "the check can see a crop");
    }
}

fn camera_keys_are_scoped_to_zones(place: &Place) {
    let gallery = place.create();
    let zones = vec!["5".to_string(), "6".to_string(), "5".to_string()];
    let (key, token) = gallery.create_scoped_key("lift", Role::Camera, &zones).unwrap();
    assert_eq!(key.zones, ["5", "6"]);
    let found = gallery.authenticate(&token).unwrap().unwrap();
    assert_eq!(found.zones, ["5", "6"]);
    assert!(found.may_use_zone("6") && !found.may_use_zone("7") && found.is_scoped());
    assert_eq!(gallery.keys().unwrap()[0].zones, ["5", "6"]);
    let (_, open) = gallery.create_key("any", Role::Camera).unwrap();
    assert!(gallery.authenticate(&open).unwrap().unwrap().may_use_zone("7"));
    assert!(matches!(gallery.create_scoped_key("root", Role::Admin, &zones), Err(GalleryError::Invalid(_))));
}

fn console_sessions_live_until_they_expire_or_their_key_goes(place: &Place) {
    let gallery = place.create();
    let (admin, _) = gallery.create_key("ops", Role::Admin).unwrap();
    let (camera, _) = gallery.create_key("cam", Role::Camera).unwrap();
    let token = "ab".repeat(32);
    let created = gallery.create_session(admin.id, &token, 600, 3600).unwrap();
    assert_eq!((created.key_id, created.key_name.as_str()), (admin.id, "ops"));
    assert!(created.expires > created.created && created.expires <= created.created + 600);
    let live = gallery.session(&token).unwrap().unwrap();
    assert_eq!(live.key_id, admin.id);
    assert_eq!(gallery.session(&"cd".repeat(32)).unwrap(), None);
    // Only admin keys open console sessions.
    assert!(gallery.create_session(camera.id, &"ef".repeat(32), 600, 3600).is_err());
    // Logout ends it.
    gallery.end_session(&token).unwrap();
    assert_eq!(gallery.session(&token).unwrap(), None);
    // An expired session is gone (idle timeout 0: already past).
    gallery.create_session(admin.id, &"01".repeat(32), 0, 3600).unwrap();
    assert_eq!(gallery.session(&"01".repeat(32)).unwrap(), None);
    // Revoking the key ends its sessions, in every handle.
    gallery.create_session(admin.id, &token, 600, 3600).unwrap();
    let other = place.open();
    assert!(other.session(&token).unwrap().is_some());
    gallery.revoke_key(admin.id).unwrap();
    assert_eq!(other.session(&token).unwrap(), None);
}

// ---- SQLite's file ------------------------------------------------------

fn sha256_of(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// Opening what is not a gallery changes nothing: not an empty file, not
/// another program's SQLite database, not a photo.
#[test]
fn opening_a_foreign_file_leaves_its_bytes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let foreign = dir.path().join("foreign.db");
    {
        let db = rusqlite::Connection::open(&foreign).unwrap();
        db.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');")
            .unwrap();
    }
    let photo = dir.path().join("photo.db");
    std::fs::copy(data("obama.jpg"), &photo).unwrap();
    for path in [&empty, &foreign, &photo] {
        let before = sha256_of(path);
        let error = Gallery::open(path.as_path(), pipeline().embedder()).err().unwrap();
        assert!(matches!(error, GalleryError::NotAGallery { .. }), "{}: {error}", path.display());
        assert!(matches!(Gallery::embedder_of(path.as_path()), Err(GalleryError::NotAGallery { .. })));
        assert_eq!(sha256_of(path), before, "{} changed", path.display());
        let wal = path.with_extension("db-wal");
        assert!(!wal.exists(), "{} appeared", wal.display());
    }
}

/// A v1 gallery (before the change log) is upgraded on open, keeps its
/// people, and then follows other handles like a new one.
#[test]
fn a_first_version_gallery_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gallery.db");
    let gallery = Gallery::create(&path, pipeline().embedder()).unwrap();
    enrol(&gallery, "Obama", &read("obama.jpg"), &EnrolPolicy::default()).unwrap();
    drop(gallery);
    {
        // Undo migrations 5, 4, 3 and 2 by hand, as a gallery written by the first release is.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP TABLE appearance_changes; DROP TABLE appearance_vectors; DROP TABLE appearances;
             DROP TABLE clusters; DROP TABLE sources;
             ALTER TABLE samples DROP COLUMN thumbnail;
             DROP TABLE probe_crops; ALTER TABLE zones DROP COLUMN probe_crops_retention_s;
             DROP TABLE revision; DROP TABLE changes; DROP TABLE api_key_zones; DROP TABLE console_sessions;
             ALTER TABLE events DROP COLUMN source; ALTER TABLE events DROP COLUMN track;
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let gallery = Gallery::open(&path, pipeline().embedder()).unwrap();
    assert_eq!(gallery.sample_count(), 1);
    let other = Gallery::open(&path, pipeline().embedder()).unwrap();
    enrol(&other, "Biden", &read("biden.jpg"), &EnrolPolicy::default()).unwrap();
    let found = gallery.identify(&embedding_of("biden.jpg"), 1, None, THRESHOLD).unwrap();
    assert_eq!(found[0].person, "Biden");
    // The sample from before thumbnails keeps none; a new one has its own.
    let thumbnails: Vec<bool> = gallery.samples(None).unwrap().iter().map(|s| s.has_thumbnail).collect();
    assert_eq!(thumbnails, [false, true]);
}

/// Runs every backend-independent test above on each backend; a backend
/// that cannot be started here is skipped with a message (and fails in CI).
macro_rules! on_every_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $test() {
                    let Some(place) = super::sqlite() else { return };
                    super::$test(&place);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $test() {
                    let Some(place) = super::postgres() else { return };
                    super::$test(&place);
                }
            )*
        }
    };
}

on_every_backend!(
    the_elevator_opens_only_for_a_granted_person,
    a_zone_can_admit_photos_with_several_faces,
    grants_are_valid_only_inside_their_window,
    enrolment_refuses_unfit_photos_with_a_reason,
    identify_ranks_people_by_their_best_sample_and_survives_a_reopen,
    a_gallery_refuses_another_embedder,
    api_keys_authenticate_until_revoked,
    handles_follow_each_other,
    concurrent_strict_enrolments_accept_a_face_once,
    unusable_names_are_refused_and_never_stored,
    events_record_source_and_track,
    camera_keys_are_scoped_to_zones,
    console_sessions_live_until_they_expire_or_their_key_goes,
    probe_crops_are_kept_only_where_a_zone_asks,
    probe_crops_are_purged_after_their_retention,
    erasing_a_person_deletes_their_probe_crops,
    samples_keep_a_face_thumbnail_until_removed,
);
