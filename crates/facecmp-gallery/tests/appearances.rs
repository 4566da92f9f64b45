//! Indexed footage on a real store: sources found again by digest or name
//! with their progress, appearances written a batch at a time and found by
//! face, filters, retention, erasure, clusters, and a second handle that
//! follows the first.
//!
//! Synthetic embeddings (unit vectors from a fixed seed, clustered like real
//! faces) and a synthetic embedder: no model is loaded. The suite runs once
//! per backend (see `on_every_backend!` at the end): on an SQLite file, and
//! on a real PostgreSQL server when one can be started. What is checked
//! behind the gallery's back is read with rusqlite or psql.
#![allow(clippy::unwrap_used)] // a test: a panic is its failure report

#[path = "support/postgres.rs"]
mod postgres_harness;

use std::path::Path;

use facecmp::{EmbedderIdentity, Embedding};
use facecmp_gallery::store::SampleRecord;
use facecmp_gallery::{
    AppearanceBatch, AppearanceFilter, AppearanceQuery, FaceBox, FaceVector, Gallery, GalleryError,
    GalleryLocation, NewAppearance, NewSource, SourceKind,
};
use facecmp_search::synthetic::Rng;
use image::codecs::jpeg::JpegEncoder;

const DIMENSION: usize = 128;
const THRESHOLD: f32 = 0.5;
/// Samples of one face: cosine ≈ 0.96 to its centre, ≈ 0.92 to each other.
const SPREAD: f32 = 0.3;

fn embedder() -> EmbedderIdentity {
    EmbedderIdentity {
        name: "synthetic".into(),
        sha256: "5e".repeat(32),
        dimension: DIMENSION,
        preprocessing: "none".into(),
    }
}

/// A fresh, empty place for a gallery on one backend; dropped, it goes.
struct Place {
    location: GalleryLocation,
    _dir: Option<tempfile::TempDir>,
    database: Option<postgres_harness::Database>,
}

impl Place {
    fn create(&self) -> Gallery {
        Gallery::create(&self.location, &embedder()).unwrap()
    }

    fn open(&self) -> Gallery {
        Gallery::open(&self.location, &embedder()).unwrap()
    }

    fn sqlite_path(&self) -> Option<&Path> {
        match &self.location {
            GalleryLocation::Sqlite(path) => Some(path),
            GalleryLocation::Postgres(_) => None,
        }
    }

    /// One integer read straight from the database, behind the gallery's back.
    fn count(&self, sql: &str) -> i64 {
        match (&self.location, &self.database) {
            (GalleryLocation::Sqlite(path), _) => {
                rusqlite::Connection::open(path).unwrap().query_row(sql, [], |row| row.get(0)).unwrap()
            }
            (GalleryLocation::Postgres(_), Some(database)) => {
                postgres_harness::shared().unwrap().sql(database, sql).trim().parse().unwrap()
            }
            (GalleryLocation::Postgres(_), None) => unreachable!("a PostgreSQL place has its database"),
        }
    }

    /// Runs one statement straight on the database, behind the gallery's back.
    fn execute(&self, sql: &str) {
        match (&self.location, &self.database) {
            (GalleryLocation::Sqlite(path), _) => {
                rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap();
            }
            (GalleryLocation::Postgres(_), Some(database)) => {
                postgres_harness::shared().unwrap().sql(database, sql);
            }
            (GalleryLocation::Postgres(_), None) => unreachable!("a PostgreSQL place has its database"),
        }
    }

    /// The SQLite file and its write-ahead log, byte for byte.
    fn sqlite_bytes(&self) -> Option<Vec<u8>> {
        let path = self.sqlite_path()?;
        let mut bytes = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
            bytes.extend(wal);
        }
        Some(bytes)
    }
}

fn sqlite() -> Option<Place> {
    let dir = tempfile::tempdir().unwrap();
    let location = GalleryLocation::Sqlite(dir.path().join("gallery.db"));
    Some(Place { location, _dir: Some(dir), database: None })
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
        database: Some(database),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn now() -> i64 {
    facecmp_gallery::gallery::now()
}

/// Faces made up from a fixed seed: each person a random unit centre.
struct Faces {
    rng: Rng,
}

impl Faces {
    fn new(seed: u64) -> Faces {
        Faces { rng: Rng::new(seed) }
    }

    fn person(&mut self) -> Vec<f32> {
        self.rng.unit_vector(DIMENSION)
    }

    /// Another look at the face `centre`.
    fn look(&mut self, centre: &[f32]) -> Vec<f32> {
        self.rng.near(centre, SPREAD)
    }

    fn query(&mut self, centre: &[f32]) -> Embedding {
        Embedding::from_raw(self.look(centre)).unwrap()
    }

    /// A small, distinct JPEG (noise), as a thumbnail.
    fn jpeg(&mut self) -> Vec<u8> {
        let pixels: Vec<u8> = (0..48 * 48 * 3).map(|_| self.rng.next_u64() as u8).collect();
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode(&pixels, 48, 48, image::ExtendedColorType::Rgb8)
            .unwrap();
        jpeg
    }

    /// An appearance of `centre` (its `looks` best faces) over a media span.
    fn appearance(&mut self, centre: &[f32], looks: usize, track: i64, media: (i64, i64)) -> NewAppearance {
        NewAppearance {
            track,
            media_start_ms: media.0,
            media_end_ms: media.1,
            wall_start_ms: None,
            wall_end_ms: None,
            face: FaceBox { x: 10.0, y: 20.0, w: 80.0, h: 96.0 },
            detector_score: 0.9,
            vectors: (0..looks)
                .map(|_| FaceVector { vector: self.look(centre), embedder_sha256: embedder().sha256 })
                .collect(),
            thumbnail_jpeg: Some(self.jpeg()),
            person: None,
            cluster: None,
        }
    }

    /// `count` appearances of strangers, one each.
    fn strangers(&mut self, count: usize, first_track: i64) -> Vec<NewAppearance> {
        (0..count)
            .map(|i| {
                let centre = self.person();
                let start = 100_000 + i as i64 * 1_000;
                self.appearance(&centre, 1, first_track + i as i64, (start, start + 500))
            })
            .collect()
    }
}

fn file(name: &str, content: u8) -> NewSource {
    NewSource {
        kind: SourceKind::File,
        name: name.into(),
        sha256: Some(format!("{content:02x}").repeat(32)),
        retention_s: None,
    }
}

fn camera(name: &str, retention_s: Option<i64>) -> NewSource {
    NewSource { kind: SourceKind::Camera, name: name.into(), sha256: None, retention_s }
}

fn batch(source: i64, appearances: Vec<NewAppearance>, until_ms: i64) -> AppearanceBatch {
    AppearanceBatch { source, appearances, indexed_until_ms: until_ms, ..AppearanceBatch::default() }
}

fn with_wall(mut appearance: NewAppearance, start_ms: i64, end_ms: i64) -> NewAppearance {
    appearance.wall_start_ms = Some(start_ms);
    appearance.wall_end_ms = Some(end_ms);
    appearance
}

fn ids_of(found: &[facecmp_gallery::FoundAppearance]) -> Vec<i64> {
    found.iter().map(|f| f.appearance.id).collect()
}

fn appearances_are_found_by_face_with_their_times(place: &Place) {
    let gallery = place.create();
    let mut faces = Faces::new(1);
    let (alice, bob) = (faces.person(), faces.person());
    let lift = gallery.upsert_source(&file("lift.mp4", 1)).unwrap();
    let lobby = gallery.upsert_source(&camera("lobby", None)).unwrap();

    let mut in_lift = vec![
        faces.appearance(&alice, 1, 1, (1_000, 4_000)),
        faces.appearance(&bob, 2, 2, (5_000, 6_000)),
        faces.appearance(&alice, 3, 3, (10_000, 12_000)),
    ];
    in_lift.extend(faces.strangers(20, 100));
    let lift_ids = gallery.write_appearances(&batch(lift.id, in_lift, 130_000)).unwrap();
    assert_eq!(lift_ids.len(), 23);
    let t0 = 1_790_000_000_000;
    let in_lobby = vec![
        with_wall(faces.appearance(&alice, 2, 7, (0, 2_000)), t0, t0 + 2_000),
        with_wall(faces.appearance(&bob, 1, 8, (60_000, 61_000)), t0 + 60_000, t0 + 61_000),
    ];
    let lobby_ids = gallery.write_appearances(&batch(lobby.id, in_lobby, 61_000)).unwrap();
    let alices = [lift_ids[0], lift_ids[2], lobby_ids[0]];

    // Alice's three appearances come first, above the threshold, best first.
    let found =
        gallery.find_appearances(&[faces.query(&alice)], &AppearanceFilter::default(), 5, THRESHOLD).unwrap();
    assert_eq!(found.len(), 5);
    let mut top3 = ids_of(&found[..3]);
    top3.sort();
    assert_eq!(top3, alices);
    assert!(found[..3].iter().all(|f| f.matched && f.similarity > 0.8), "{found:?}");
    assert!(found[3..].iter().all(|f| !f.matched), "{found:?}");
    assert!(found.windows(2).all(|pair| pair[0].similarity >= pair[1].similarity));
    // With their sources and times as written.
    let first = found.iter().find(|f| f.appearance.id == lift_ids[0]).unwrap();
    let a = &first.appearance;
    assert_eq!((a.source, a.source_name.as_str(), a.track), (lift.id, "lift.mp4", 1));
    assert_eq!((a.media_start_ms, a.media_end_ms, a.wall_start_ms), (1_000, 4_000, None));
    assert_eq!((a.vectors, a.has_thumbnail, a.face.w), (1, true, 80.0));
    let on_camera = found.iter().find(|f| f.appearance.id == lobby_ids[0]).unwrap();
    assert_eq!(on_camera.appearance.source_name, "lobby");
    assert_eq!(
        (on_camera.appearance.wall_start_ms, on_camera.appearance.wall_end_ms),
        (Some(t0), Some(t0 + 2_000))
    );

    // Several faces of the query: the best over them ranks.
    let both = [faces.query(&alice), faces.query(&bob)];
    let found = gallery.find_appearances(&both, &AppearanceFilter::default(), 5, THRESHOLD).unwrap();
    let mut expected = vec![lift_ids[0], lift_ids[1], lift_ids[2], lobby_ids[0], lobby_ids[1]];
    expected.sort();
    let mut got = ids_of(&found);
    got.sort();
    assert_eq!(got, expected);
    assert!(found.iter().all(|f| f.matched));

    // Filters: by source, media time, wall time.
    let query = [faces.query(&alice)];
    let only_lift = AppearanceFilter { source: Some(lift.id), ..AppearanceFilter::default() };
    let found = gallery.find_appearances(&query, &only_lift, 2, THRESHOLD).unwrap();
    let mut got = ids_of(&found);
    got.sort();
    assert_eq!(got, [lift_ids[0], lift_ids[2]]);
    let early = AppearanceFilter {
        source: Some(lift.id),
        media_until_ms: Some(4_500),
        ..AppearanceFilter::default()
    };
    let found = gallery.find_appearances(&query, &early, 3, THRESHOLD).unwrap();
    assert_eq!(ids_of(&found)[0], lift_ids[0]);
    assert!(found.iter().all(|f| f.appearance.media_start_ms < 4_500), "{found:?}");
    let overlapping = AppearanceFilter {
        media_from_ms: Some(11_000),
        media_until_ms: Some(11_500),
        ..AppearanceFilter::default()
    };
    assert_eq!(ids_of(&gallery.find_appearances(&query, &overlapping, 5, THRESHOLD).unwrap()), [lift_ids[2]]);
    let by_the_clock = AppearanceFilter {
        wall_from_ms: Some(t0 - 1),
        wall_until_ms: Some(t0 + 1),
        ..AppearanceFilter::default()
    };
    assert_eq!(
        ids_of(&gallery.find_appearances(&query, &by_the_clock, 5, THRESHOLD).unwrap()),
        [lobby_ids[0]]
    );

    // Listing, page by page, with the same filters.
    let listed = gallery.appearances(&AppearanceQuery { limit: 10, ..AppearanceQuery::default() }).unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), lift_ids[..10]);
    let next = AppearanceQuery { after: Some(listed[9].id), limit: 100, ..AppearanceQuery::default() };
    assert_eq!(gallery.appearances(&next).unwrap().len(), 25 - 10);
    let lobby_only = AppearanceQuery {
        filter: AppearanceFilter { source: Some(lobby.id), ..AppearanceFilter::default() },
        ..AppearanceQuery::default()
    };
    assert_eq!(gallery.appearances(&lobby_only).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), lobby_ids);
    let late = AppearanceQuery { filter: by_the_clock.clone(), ..AppearanceQuery::default() };
    assert_eq!(gallery.appearances(&late).unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [lobby_ids[0]]);

    // The thumbnail is kept as written.
    let jpeg = gallery.appearance_thumbnail(lift_ids[0]).unwrap().unwrap();
    assert!(jpeg.starts_with(&[0xff, 0xd8, 0xff]));
    assert_eq!(gallery.appearance_thumbnail(987_654).unwrap(), None);

    // A query of another dimension, or too many results, is refused.
    let short = Embedding::from_raw(vec![1.0; 64]).unwrap();
    assert!(matches!(
        gallery.find_appearances(&[short], &AppearanceFilter::default(), 5, THRESHOLD),
        Err(GalleryError::Invalid(_))
    ));
    assert!(gallery.find_appearances(&query, &AppearanceFilter::default(), 100_000, THRESHOLD).is_err());
    assert!(gallery.find_appearances(&[], &AppearanceFilter::default(), 5, THRESHOLD).unwrap().is_empty());
}

fn a_source_is_found_again_and_resumes(place: &Place) {
    let gallery = place.create();
    let mut faces = Faces::new(2);
    let face = faces.person();
    let first = gallery.upsert_source(&file("recordings/a.mp4", 7)).unwrap();
    assert_eq!(
        (first.kind, first.indexed_until_ms, first.indexed_until_bytes, first.complete),
        (SourceKind::File, 0, 0, false)
    );

    let mut part = batch(first.id, vec![faces.appearance(&face, 1, 1, (0, 1_000))], 60_000);
    part.indexed_until_bytes = 1_000_000;
    gallery.write_appearances(&part).unwrap();
    // The same content under another name is the same source, indexed as far.
    let again = gallery.upsert_source(&file("copies/renamed.mp4", 7)).unwrap();
    assert_eq!((again.id, again.name.as_str()), (first.id, "recordings/a.mp4"));
    assert_eq!(
        (again.indexed_until_ms, again.indexed_until_bytes, again.complete),
        (60_000, 1_000_000, false)
    );

    // Progress never moves back; the last batch marks it complete.
    gallery.write_appearances(&batch(first.id, vec![], 30_000)).unwrap();
    let mut last = batch(first.id, vec![faces.appearance(&face, 1, 2, (61_000, 62_000))], 120_000);
    last.complete = true;
    gallery.write_appearances(&last).unwrap();
    let done = gallery.upsert_source(&file("recordings/a.mp4", 7)).unwrap();
    assert_eq!((done.id, done.indexed_until_ms, done.complete), (first.id, 120_000, true));

    // Other content is another source; cameras and photos go by kind and name.
    assert_ne!(gallery.upsert_source(&file("recordings/a.mp4", 8)).unwrap().id, first.id);
    let lift = gallery.upsert_source(&camera("lift-5", None)).unwrap();
    assert_eq!(gallery.upsert_source(&camera("lift-5", None)).unwrap().id, lift.id);
    let photos = NewSource { kind: SourceKind::Photos, ..camera("lift-5", None) };
    assert_ne!(gallery.upsert_source(&photos).unwrap().id, lift.id);
    assert_eq!(gallery.sources().unwrap().len(), 4);

    // What cannot be a source is refused and leaves no row.
    let refused = [
        NewSource { sha256: None, ..file("x.mp4", 1) },
        NewSource { sha256: Some("A".repeat(64)), ..file("x.mp4", 1) },
        NewSource { sha256: Some("ab".repeat(32)), ..camera("x", None) },
        camera("lift\n5", None),
        camera("evil\u{202E}4pm.exe", None),
        camera(&"x".repeat(513), None),
        camera("lift", Some(0)),
        camera("lift", Some(400 * 86_400)),
    ];
    for source in &refused {
        assert!(matches!(gallery.upsert_source(source), Err(GalleryError::Invalid(_))), "{source:?}");
    }
    gallery.upsert_source(&camera(&"x".repeat(512), None)).unwrap();
    assert_eq!(gallery.sources().unwrap().len(), 5);
    assert!(matches!(
        gallery.write_appearances(&batch(987_654, vec![], 0)),
        Err(GalleryError::NoSuchSource(987_654))
    ));
}

fn a_batch_is_written_whole_or_not_at_all(place: &Place) {
    let gallery = place.create();
    let mut faces = Faces::new(3);
    let face = faces.person();
    let source = gallery.upsert_source(&camera("lift", None)).unwrap();
    // The store refuses the last appearance (no such cluster): nothing of the batch stays.
    let mut appearances: Vec<NewAppearance> =
        (0..5).map(|t| faces.appearance(&face, 2, t, (t * 1_000, t * 1_000 + 500))).collect();
    appearances[4].cluster = Some(987_654);
    assert!(gallery.write_appearances(&batch(source.id, appearances.clone(), 5_000)).is_err());
    assert!(gallery.appearances(&AppearanceQuery::default()).unwrap().is_empty());
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances"), 0);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearance_vectors"), 0);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearance_changes"), 0);
    assert_eq!(gallery.sources().unwrap()[0].indexed_until_ms, 0, "the progress did not move either");
    assert!(
        gallery
            .find_appearances(&[faces.query(&face)], &AppearanceFilter::default(), 5, THRESHOLD)
            .unwrap()
            .is_empty()
    );

    // An unsound appearance is refused before anything is written.
    let mut sound = appearances.clone();
    sound[4].cluster = None;
    type Spoil = fn(&mut NewAppearance);
    let cases: [(&str, Spoil); 8] = [
        ("no vectors", |a| a.vectors.clear()),
        ("four vectors", |a| a.vectors.extend(vec![a.vectors[0].clone(); 3])),
        ("another embedder", |a| a.vectors[0].embedder_sha256 = "0".repeat(64)),
        ("not unit length", |a| a.vectors[0].vector[0] += 1.0),
        ("start after end", |a| a.media_start_ms = a.media_end_ms + 1),
        ("half a wall clock", |a| a.wall_start_ms = Some(5)),
        ("not a JPEG", |a| a.thumbnail_jpeg = Some(b"GIF89a".to_vec())),
        ("score above 1", |a| a.detector_score = 1.5),
    ];
    for (what, spoil) in cases {
        let mut spoiled = sound.clone();
        spoil(&mut spoiled[4]);
        let refused = gallery.write_appearances(&batch(source.id, spoiled, 5_000));
        assert!(matches!(refused, Err(GalleryError::Invalid(_))), "{what}: {refused:?}");
    }
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances"), 0);

    // The sound batch goes in whole, with its progress.
    let ids = gallery.write_appearances(&batch(source.id, sound, 5_000)).unwrap();
    assert_eq!(ids.len(), 5);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearance_vectors"), 10);
    assert_eq!(gallery.sources().unwrap()[0].indexed_until_ms, 5_000);
    assert_eq!(
        gallery
            .find_appearances(&[faces.query(&face)], &AppearanceFilter::default(), 10, THRESHOLD)
            .unwrap()
            .len(),
        5
    );
}

fn retention_purges_expired_appearances_and_their_thumbnails(place: &Place) {
    let gallery = place.create();
    let follower = place.open();
    let mut faces = Faces::new(4);
    let face = faces.person();
    let hour = gallery.upsert_source(&camera("lift", Some(3_600))).unwrap();
    let now_ms = now() * 1_000;
    let old: Vec<NewAppearance> = (0..3)
        .map(|t| {
            with_wall(
                faces.appearance(&face, 2, t, (t * 1_000, t * 1_000 + 500)),
                now_ms - 7_300_000,
                now_ms - 7_200_000,
            )
        })
        .collect();
    let recent: Vec<NewAppearance> = (3..5)
        .map(|t| {
            with_wall(
                faces.appearance(&face, 1, t, (t * 1_000, t * 1_000 + 500)),
                now_ms - 130_000,
                now_ms - 120_000,
            )
        })
        .collect();
    let old_thumbnails: Vec<Vec<u8>> = old.iter().map(|a| a.thumbnail_jpeg.clone().unwrap()).collect();
    let recent_thumbnail = recent[0].thumbnail_jpeg.clone().unwrap();
    let old_ids = gallery.write_appearances(&batch(hour.id, old, 3_000)).unwrap();
    let recent_ids = gallery.write_appearances(&batch(hour.id, recent, 5_000)).unwrap();
    // A file's appearances are dated from when they were indexed.
    let mut kept = file("kept.mp4", 9);
    kept.retention_s = Some(3_600);
    let kept = gallery.upsert_source(&kept).unwrap();
    let kept_ids =
        gallery.write_appearances(&batch(kept.id, vec![faces.appearance(&face, 1, 1, (0, 1))], 1)).unwrap();

    // Past its retention an appearance is never shown, even before the purge.
    let query = [faces.query(&face)];
    let everything = AppearanceFilter::default();
    let mut found = ids_of(&follower.find_appearances(&query, &everything, 10, THRESHOLD).unwrap());
    found.sort();
    assert_eq!(found, [recent_ids.clone(), kept_ids.clone()].concat());
    assert_eq!(follower.indexed_appearances(), 6, "held until purged");
    assert_eq!(gallery.appearances(&AppearanceQuery::default()).unwrap().len(), 3);
    assert_eq!(gallery.appearance_thumbnail(old_ids[0]).unwrap(), None);
    let listed = gallery.appearances(&AppearanceQuery::default()).unwrap();
    assert_eq!(listed[0].expires, Some(now_ms / 1_000 - 120 + 3_600), "an hour after it was seen");

    assert_eq!(gallery.purge_expired_appearances().unwrap(), 3);
    assert_eq!(gallery.purge_expired_appearances().unwrap(), 0);
    let old_list = old_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    assert_eq!(place.count(&format!("SELECT COUNT(*) FROM appearances WHERE id IN ({old_list})")), 0);
    assert_eq!(
        place.count(&format!("SELECT COUNT(*) FROM appearance_vectors WHERE appearance_id IN ({old_list})")),
        0
    );
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances WHERE thumbnail IS NOT NULL"), 3);
    follower.find_appearances(&query, &everything, 10, THRESHOLD).unwrap();
    assert_eq!(follower.indexed_appearances(), 3, "the other handle dropped them too");
    if let Some(bytes) = place.sqlite_bytes() {
        // The picture itself, not the JPEG header every thumbnail shares.
        let picture = |jpeg: &[u8]| jpeg[jpeg.len() - 300..jpeg.len() - 44].to_vec();
        for thumbnail in &old_thumbnails {
            assert!(!contains(&bytes, &picture(thumbnail)), "a purged thumbnail is still in the file");
        }
        assert!(contains(&bytes, &picture(&recent_thumbnail)), "the check can see a thumbnail");
    }

    // A shorter retention applies to what is kept at once; none keeps it all.
    let minute = gallery.upsert_source(&camera("lift", Some(60))).unwrap();
    assert_eq!((minute.id, minute.retention_s), (hour.id, Some(60)));
    let left: Vec<i64> =
        gallery.appearances(&AppearanceQuery::default()).unwrap().iter().map(|a| a.id).collect();
    assert_eq!(left, kept_ids, "the camera's appearances were seen two minutes ago");
    assert_eq!(place.count(&format!("SELECT COUNT(*) FROM appearances WHERE source_id = {}", hour.id)), 0);
    let forever = gallery.upsert_source(&NewSource { retention_s: None, ..file("kept.mp4", 9) }).unwrap();
    assert_eq!(forever.retention_s, None);
    assert_eq!(gallery.appearances(&AppearanceQuery::default()).unwrap()[0].expires, None);

    // Deleting a source deletes its appearances.
    assert_eq!(gallery.remove_source(kept.id).unwrap(), 1);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances"), 0);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearance_vectors"), 0);
    assert!(matches!(gallery.remove_source(kept.id), Err(GalleryError::NoSuchSource(_))));
    assert!(follower.find_appearances(&query, &everything, 10, THRESHOLD).unwrap().is_empty());
    assert_eq!(follower.indexed_appearances(), 0);
}

fn erasing_a_person_deletes_the_appearances_matched_to_them(place: &Place) {
    let gallery = place.create();
    let follower = place.open();
    let mut faces = Faces::new(5);
    let (alice, bob) = (faces.person(), faces.person());
    let (alice_sample, bob_sample) = (faces.look(&alice), faces.look(&bob));
    let sha = embedder().sha256;
    let records =
        [("Alice", &alice_sample, "a1"), ("Bob", &bob_sample, "b1")].map(|(name, vector, digest)| {
            SampleRecord {
                name,
                external_id: None,
                vector: vector.as_slice(),
                embedder_sha256: &sha,
                detector_score: 0.9,
                face_size: 120.0,
                image_sha256: digest,
                thumbnail_jpeg: None,
                time: now(),
            }
        });
    gallery.store().import(&records).unwrap();
    let alice_id = gallery.person("Alice").unwrap().id;
    let bob_id = gallery.person("Bob").unwrap().id;

    let source = gallery.upsert_source(&camera("lift", None)).unwrap();
    let mut appearances = vec![
        faces.appearance(&alice, 2, 1, (0, 1_000)),
        faces.appearance(&alice, 1, 2, (2_000, 3_000)),
        faces.appearance(&bob, 1, 3, (4_000, 5_000)),
        faces.appearance(&alice, 1, 4, (6_000, 7_000)),
    ];
    appearances[0].person = Some(alice_id);
    appearances[1].person = Some(alice_id);
    appearances[2].person = Some(bob_id);
    let alice_thumbnail = appearances[0].thumbnail_jpeg.clone().unwrap();
    let alice_vector: Vec<u8> =
        appearances[0].vectors[0].vector.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ids = gallery.write_appearances(&batch(source.id, appearances, 7_000)).unwrap();
    let matched_to_alice = AppearanceFilter { person: Some(alice_id), ..AppearanceFilter::default() };
    let query = [faces.query(&alice)];
    assert_eq!(ids_of(&follower.find_appearances(&query, &matched_to_alice, 5, THRESHOLD).unwrap()).len(), 2);
    assert_eq!(follower.indexed_appearances(), 4);

    gallery.remove_person("Alice").unwrap();
    assert_eq!(place.count(&format!("SELECT COUNT(*) FROM appearances WHERE person_id = {alice_id}")), 0);
    assert_eq!(
        place.count(&format!(
            "SELECT COUNT(*) FROM appearance_vectors WHERE appearance_id IN ({}, {})",
            ids[0], ids[1]
        )),
        0
    );
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances"), 2, "Bob's and the unmatched one stay");
    // The other handle never answers with them again.
    let found =
        ids_of(&follower.find_appearances(&query, &AppearanceFilter::default(), 5, THRESHOLD).unwrap());
    assert!(!found.contains(&ids[0]) && !found.contains(&ids[1]), "{found:?}");
    assert_eq!(found[0], ids[3]);
    assert_eq!(follower.indexed_appearances(), 2);
    let listed =
        gallery.appearances(&AppearanceQuery { filter: matched_to_alice, ..AppearanceQuery::default() });
    assert!(listed.unwrap().is_empty());
    // Her face seen but never matched is found by face and deleted on request.
    assert_eq!(gallery.remove_appearances(&[ids[3], 987_654]).unwrap(), 1);
    assert_eq!(place.count("SELECT COUNT(*) FROM appearances"), 1, "Bob's stays");
    let found =
        ids_of(&follower.find_appearances(&query, &AppearanceFilter::default(), 5, THRESHOLD).unwrap());
    assert_eq!(found, [ids[2]]);
    if let Some(bytes) = place.sqlite_bytes() {
        assert!(!contains(&bytes, &alice_thumbnail[alice_thumbnail.len() - 300..alice_thumbnail.len() - 44]));
        assert!(!contains(&bytes, &alice_vector[..64]), "a vector of Alice's is still in the file");
    }
}

fn clusters_merge_take_names_and_can_be_no_face(place: &Place) {
    let gallery = place.create();
    let mut faces = Faces::new(6);
    let (alice, smudge) = (faces.person(), faces.person());
    let source = gallery.upsert_source(&camera("lift", None)).unwrap();
    let mut appearances: Vec<NewAppearance> =
        (0..3).map(|t| faces.appearance(&alice, 1, t, (t * 1_000, t * 1_000 + 500))).collect();
    appearances.extend((3..5).map(|t| faces.appearance(&smudge, 1, t, (t * 1_000, t * 1_000 + 500))));
    let ids = gallery.write_appearances(&batch(source.id, appearances, 5_000)).unwrap();

    let first = gallery.create_cluster(None).unwrap();
    let second = gallery.create_cluster(Some("Alice?")).unwrap();
    assert_eq!(gallery.set_cluster(&ids[..2], Some(first)).unwrap(), 2);
    assert_eq!(gallery.set_cluster(&[ids[2], 987_654], Some(second)).unwrap(), 1);
    assert_eq!(gallery.merge_clusters(first, &[second]).unwrap(), 1);
    gallery.name_cluster(first, Some("Alice")).unwrap();
    let clusters = gallery.clusters().unwrap();
    assert_eq!(clusters.len(), 1);
    assert_eq!(
        (clusters[0].id, clusters[0].name.as_deref(), clusters[0].appearances),
        (first, Some("Alice"), 3)
    );
    let in_first = AppearanceFilter { cluster: Some(first), ..AppearanceFilter::default() };
    let listed = gallery
        .appearances(&AppearanceQuery { filter: in_first.clone(), ..AppearanceQuery::default() })
        .unwrap();
    assert_eq!(listed.iter().map(|a| a.id).collect::<Vec<_>>(), ids[..3]);
    // A search within the cluster finds only its appearances, even for another face.
    let found = gallery.find_appearances(&[faces.query(&smudge)], &in_first, 5, THRESHOLD).unwrap();
    assert_eq!(found.len(), 3);
    assert!(found.iter().all(|f| !f.matched && f.appearance.cluster == Some(first)));

    // A cluster marked "not a face" leaves searches and listings unless asked for.
    let noise = gallery.create_cluster(None).unwrap();
    gallery.set_cluster(&ids[3..], Some(noise)).unwrap();
    let query = [faces.query(&smudge)];
    let everything = AppearanceFilter::default();
    assert_eq!(ids_of(&gallery.find_appearances(&query, &everything, 2, THRESHOLD).unwrap()).len(), 2);
    gallery.mark_not_a_face(noise, true).unwrap();
    let found = gallery.find_appearances(&query, &everything, 2, THRESHOLD).unwrap();
    assert!(found.iter().all(|f| f.appearance.cluster == Some(first)), "{found:?}");
    assert_eq!(gallery.appearances(&AppearanceQuery::default()).unwrap().len(), 3);
    let asked = AppearanceFilter { include_not_a_face: true, ..AppearanceFilter::default() };
    let found = gallery.find_appearances(&query, &asked, 2, THRESHOLD).unwrap();
    assert!(found.iter().all(|f| f.appearance.not_a_face && f.matched), "{found:?}");
    assert!(gallery.clusters().unwrap().iter().any(|c| c.id == noise && c.not_a_face));
    gallery.mark_not_a_face(noise, false).unwrap();
    assert_eq!(gallery.appearances(&AppearanceQuery::default()).unwrap().len(), 5);
    // Taking appearances out of every cluster.
    assert_eq!(gallery.set_cluster(&ids[3..], None).unwrap(), 2);
    assert_eq!(gallery.clusters().unwrap().iter().find(|c| c.id == noise).unwrap().appearances, 0);

    // Unknown clusters and unusable names are refused.
    assert!(matches!(gallery.merge_clusters(987_654, &[first]), Err(GalleryError::NoSuchCluster(987_654))));
    assert!(matches!(gallery.merge_clusters(first, &[987_654]), Err(GalleryError::NoSuchCluster(987_654))));
    assert!(matches!(gallery.name_cluster(987_654, None), Err(GalleryError::NoSuchCluster(_))));
    assert!(matches!(gallery.mark_not_a_face(987_654, true), Err(GalleryError::NoSuchCluster(_))));
    assert!(matches!(gallery.set_cluster(&ids, Some(987_654)), Err(GalleryError::NoSuchCluster(_))));
    assert!(matches!(gallery.name_cluster(first, Some("a\nb")), Err(GalleryError::Invalid(_))));
    assert_eq!(gallery.clusters().unwrap()[0].name.as_deref(), Some("Alice"));
}

/// Two handles on one store, as two processes or two nodes: what one
/// writes the other finds at its next search, without reopening.
fn a_second_handle_finds_what_the_first_wrote(place: &Place) {
    let writer = place.create();
    let reader = place.open();
    let mut faces = Faces::new(7);
    let face = faces.person();
    let query = [faces.query(&face)];
    let everything = AppearanceFilter::default();
    assert!(reader.find_appearances(&query, &everything, 5, THRESHOLD).unwrap().is_empty());

    let source = writer.upsert_source(&camera("lift", None)).unwrap();
    let mut written = Vec::new();
    for round in 0..3 {
        let appearances = vec![faces.appearance(&face, 1, round, (round * 1_000, round * 1_000 + 500))];
        written
            .extend(writer.write_appearances(&batch(source.id, appearances, (round + 1) * 1_000)).unwrap());
        let found = ids_of(&reader.find_appearances(&query, &everything, 5, THRESHOLD).unwrap());
        let mut found_sorted = found.clone();
        found_sorted.sort();
        assert_eq!(found_sorted, written, "round {round}");
    }
    assert_eq!(reader.indexed_appearances(), 3);
    // Further behind than the log reaches (here: the log pruned by hand),
    // a handle reloads everything.
    let appearances = vec![faces.appearance(&face, 2, 3, (3_000, 3_500))];
    written.extend(writer.write_appearances(&batch(source.id, appearances, 4_000)).unwrap());
    place.execute("DELETE FROM appearance_changes; UPDATE revision SET log_floor = value");
    let mut found = ids_of(&reader.find_appearances(&query, &everything, 5, THRESHOLD).unwrap());
    found.sort();
    assert_eq!(found, written);
    assert_eq!(reader.indexed_appearances(), 4);
    // A handle opened later loads everything at its first search.
    let late = place.open();
    assert_eq!(late.indexed_appearances(), 0, "nothing is loaded before a search");
    assert_eq!(late.find_appearances(&query, &everything, 5, THRESHOLD).unwrap().len(), 4);
    // And a deletion holds on the others at their next search.
    reader.remove_source(source.id).unwrap();
    assert!(writer.find_appearances(&query, &everything, 5, THRESHOLD).unwrap().is_empty());
    assert!(late.find_appearances(&query, &everything, 5, THRESHOLD).unwrap().is_empty());
    assert_eq!(late.indexed_appearances(), 0);
}

/// Runs every test above on each backend; a backend that cannot be started
/// here is skipped with a message (and fails in CI).
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
    appearances_are_found_by_face_with_their_times,
    a_source_is_found_again_and_resumes,
    a_batch_is_written_whole_or_not_at_all,
    retention_purges_expired_appearances_and_their_thumbnails,
    erasing_a_person_deletes_the_appearances_matched_to_them,
    clusters_merge_take_names_and_can_be_no_face,
    a_second_handle_finds_what_the_first_wrote,
);
