//! The gallery: people, zones, grants, face samples and the audit trail in
//! a [`GalleryStore`] (an SQLite file or a PostgreSQL database), with every
//! sample's embedding also held in memory for search.
//!
//! The in-memory index follows the store: every change bumps the store's
//! revision, and before each search, access decision or strict enrolment
//! the gallery compares its revision with the store's and replays the
//! store's change log (or reloads everything when the log no longer
//! reaches back far enough). So a person enrolled or erased by another
//! process or another node is seen at the next request.
//!
//! This file holds the operations. The index and its replay are in
//! `sync.rs`; the rows handed out are in [`model`](crate::model), and
//! re-exported here. Indexed footage (sources, appearances, clusters) has
//! its own index, which follows the store the same way, and its operations
//! in `appearances/`; the search over it is [`Gallery::find_appearances`].

use std::ops::Deref;
use std::sync::Arc;

use facecmp::{EmbedderChoice, EmbedderIdentity, Embedding};
use facecmp_search::{PersonMatch, SearchIndex};

use crate::access::Probe;
use crate::appearances::{AppearanceIndex, MAX_QUERIES, MAX_TOP};
pub use crate::clock::now;
use crate::crops::{StoredCrop, validate_retention};
use crate::enrol::{NewSample, Rejection};
use crate::error::{GalleryError, Result};
use crate::ids::random_hex;
pub use crate::model::{
    AccessContext, AccessDecision, AppearanceFilter, Enrolled, Event, EventQuery, FoundAppearance, Grant,
    Identification, Person, Sample, Zone, ZonePolicy,
};
use crate::names::validate_name;
use crate::store::{
    DecisionRecord, Evidence, GalleryLocation, GalleryStore, SampleRecord, SqliteStore, StoreReader,
    create_postgres, open_postgres,
};
pub use crate::sync::Shared;

/// An open gallery. Methods take `&self`: it is shared between threads
/// (the store is thread-safe, the search matrix is behind a read-write lock).
///
/// When the store can notify changes (PostgreSQL), a watcher thread also
/// replays them as they happen, so that the first request after a change
/// finds the index already current; it ends with the gallery.
pub struct Gallery {
    shared: Arc<Shared>,
    /// Indexed footage's vectors, loaded at the first search.
    appearances: AppearanceIndex,
}

impl Deref for Gallery {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Gallery {
    /// Creates a new gallery (an SQLite file, or the schema in an empty
    /// PostgreSQL database), pinned to `embedder`.
    pub fn create(location: impl Into<GalleryLocation>, embedder: &EmbedderIdentity) -> Result<Gallery> {
        let store: Arc<dyn GalleryStore> = match location.into() {
            GalleryLocation::Sqlite(path) => Arc::new(SqliteStore::create(&path, embedder)?),
            GalleryLocation::Postgres(url) => create_postgres(&url, embedder)?,
        };
        Self::with_store(store, embedder)
    }

    /// Opens an existing gallery, refusing one made with another embedder.
    pub fn open(location: impl Into<GalleryLocation>, embedder: &EmbedderIdentity) -> Result<Gallery> {
        let store: Arc<dyn GalleryStore> = match location.into() {
            GalleryLocation::Sqlite(path) => Arc::new(SqliteStore::open(&path)?),
            GalleryLocation::Postgres(url) => open_postgres(&url)?,
        };
        Self::with_store(store, embedder)
    }

    /// The embedder a gallery is pinned to, without loading it (nor
    /// changing anything when it is not a gallery).
    pub fn embedder_of(location: impl Into<GalleryLocation>) -> Result<EmbedderIdentity> {
        match location.into() {
            GalleryLocation::Sqlite(path) => SqliteStore::embedder_of(&path),
            GalleryLocation::Postgres(url) => open_postgres(&url)?.embedder(),
        }
    }

    /// The bundled embedder a gallery was made with; None for a trained or
    /// card model's gallery. Commands that name no embedder use this one, so
    /// that each gallery keeps working whatever the default embedder is.
    pub fn bundled_embedder_of(location: impl Into<GalleryLocation>) -> Result<Option<EmbedderChoice>> {
        Ok(EmbedderChoice::of_identity(&Self::embedder_of(location)?))
    }

    /// A gallery over any store, refusing one pinned to another embedder;
    /// loads every sample into the search index.
    pub fn with_store(store: Arc<dyn GalleryStore>, embedder: &EmbedderIdentity) -> Result<Gallery> {
        let stored = store.embedder()?;
        if &stored != embedder {
            return Err(GalleryError::EmbedderMismatch {
                path: store.location().to_string(),
                gallery: describe(&stored),
                current: describe(embedder),
            });
        }
        Ok(Gallery {
            shared: Shared::start(store, embedder)?,
            appearances: AppearanceIndex::new(embedder.dimension),
        })
    }

    /// Where the gallery is (a path, or a URL without its password).
    pub fn path(&self) -> &str {
        self.store.location()
    }

    pub fn embedder(&self) -> &EmbedderIdentity {
        &self.embedder
    }

    /// The store behind the gallery (benchmarks, tools that bulk-load).
    pub fn store(&self) -> &dyn GalleryStore {
        self.store.as_ref()
    }

    /// Samples held in the search matrix, as of the last refresh (touches
    /// no database, so it is safe anywhere).
    pub fn sample_count(&self) -> usize {
        self.read_index().index.len()
    }

    /// The store revision the search index reflects.
    pub fn revision(&self) -> i64 {
        self.read_index().revision
    }

    /// Brings the search index up to the store's revision: a cheap check
    /// when nothing changed, else the change log since the index's revision
    /// (or every sample, when the log was truncated).
    pub fn refresh(&self) -> Result<()> {
        self.shared.refresh()
    }

    // ---- people -------------------------------------------------------

    pub fn people(&self) -> Result<Vec<Person>> {
        self.store.people(None)
    }

    pub fn person(&self, name: &str) -> Result<Person> {
        self.store.people(Some(name))?.pop().ok_or_else(|| GalleryError::NoSuchPerson(name.to_string()))
    }

    /// Enrols one reviewed face as a sample of `name`, creating the person
    /// on their first sample. Returns `Ok(Err(rejection))` when the sample is
    /// refused. The sample is durable once this returns.
    ///
    /// With `strict`, the check against other people runs inside the
    /// store's write transaction on an index brought up to date there, so
    /// two enrolments at once (in any processes) cannot both accept one
    /// face under two names.
    pub fn enrol(
        &self,
        name: &str,
        external_id: Option<&str>,
        sample: &NewSample,
        strict: Option<f32>,
    ) -> Result<std::result::Result<Enrolled, Rejection>> {
        validate_name("person", name)?;
        if let Some(external_id) = external_id {
            validate_name("external id", external_id)?;
        }
        self.check_dimension(&sample.embedding)?;
        let record = SampleRecord {
            name,
            external_id,
            vector: sample.embedding.as_slice(),
            embedder_sha256: &self.embedder.sha256,
            detector_score: sample.detector_score,
            face_size: sample.face_size,
            image_sha256: &sample.image_sha256,
            thumbnail_jpeg: sample.thumbnail_jpeg.as_deref(),
            time: now(),
        };
        let mut check = |reader: &mut dyn StoreReader, own: Option<i64>| -> Result<Option<Rejection>> {
            let Some(threshold) = strict else { return Ok(None) };
            let synced = self.synced_in(reader)?;
            closer_to_other(&synced.index, reader, own, &sample.embedding, threshold)
        };
        let enrolled = self.store.enrol(&record, &mut check)?;
        if enrolled.is_ok() {
            self.refresh()?;
        }
        Ok(enrolled)
    }

    /// Erases a person: their samples, grants and record go, and the
    /// audit events about them keep only the decision, under a tombstone.
    /// Returns the tombstone. Other processes drop the person from their
    /// index at their next request; until then a search hit on them is a
    /// non-match, because every decision checks that the person still exists.
    pub fn remove_person(&self, name: &str) -> Result<String> {
        let tombstone = format!("erased-{}", random_hex(8));
        self.store.remove_person(name, &tombstone)?;
        self.refresh()?;
        Ok(tombstone)
    }

    pub fn samples(&self, person: Option<&str>) -> Result<Vec<Sample>> {
        validate_filter("person", person)?;
        self.store.samples(person)
    }

    /// The face thumbnail (JPEG) of `person`'s sample `sample`; None when
    /// the sample is not theirs, is gone, or keeps no thumbnail.
    pub fn sample_thumbnail(&self, person: &str, sample: i64) -> Result<Option<Vec<u8>>> {
        Ok(self.store.sample_thumbnail(sample)?.filter(|(owner, _)| owner == person).map(|(_, jpeg)| jpeg))
    }

    /// Deletes one sample. Returns whether it existed.
    pub fn remove_sample(&self, sample: i64) -> Result<bool> {
        let removed = self.store.remove_sample(sample)?;
        self.refresh()?;
        Ok(removed)
    }

    // ---- zones and grants ---------------------------------------------

    pub fn zones(&self) -> Result<Vec<Zone>> {
        self.store.zones(None)
    }

    /// Looked up on every access request: by name, not by listing every zone.
    pub fn zone(&self, name: &str) -> Result<Option<Zone>> {
        Ok(self.store.zones(Some(name))?.pop())
    }

    /// Creates a zone, or replaces its policy. A new retention period
    /// applies to the crops already kept too; turning crops off deletes
    /// the zone's crops.
    pub fn set_zone(&self, name: &str, policy: &ZonePolicy) -> Result<Zone> {
        validate_name("zone", name)?;
        validate_retention(policy.probe_crops_retention_s).map_err(GalleryError::Invalid)?;
        self.store.set_zone(name, policy, now())?;
        self.zone(name)?.ok_or_else(|| GalleryError::NoSuchZone(name.to_string()))
    }

    /// The probe crop kept with event `event_id`, unless there is none (its
    /// zone kept none, it expired, or its person was erased).
    pub fn probe_crop(&self, event_id: i64) -> Result<Option<StoredCrop>> {
        self.store.probe_crop(event_id, now())
    }

    /// Deletes every probe crop past its zone's retention; returns how
    /// many. Decisions do this as they are recorded; a service calls it now
    /// and then so that a quiet gallery keeps nothing past its time either.
    pub fn purge_expired_probe_crops(&self) -> Result<usize> {
        self.store.purge_probe_crops(now())
    }

    /// Grants `person` entry to `zone` (created if new), replacing any earlier window.
    pub fn grant(
        &self,
        person: &str,
        zone: &str,
        valid_from: Option<i64>,
        valid_until: Option<i64>,
    ) -> Result<Grant> {
        validate_name("zone", zone)?;
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && from >= until
        {
            return Err(GalleryError::EmptyWindow { from, until });
        }
        let grant = Grant {
            person: person.to_string(),
            zone: zone.to_string(),
            valid_from,
            valid_until,
            created: now(),
        };
        self.store.grant(&grant)?;
        Ok(grant)
    }

    /// Withdraws a grant. Returns whether there was one.
    pub fn revoke(&self, person: &str, zone: &str) -> Result<bool> {
        self.store.revoke(person, zone)
    }

    pub fn grants(&self, zone: Option<&str>, person: Option<&str>) -> Result<Vec<Grant>> {
        validate_filter("zone", zone)?;
        validate_filter("person", person)?;
        self.store.grants(zone, person)
    }

    // ---- matching -----------------------------------------------------

    /// The embeddings of `name`'s samples, as the search index holds them:
    /// what "find this enrolled person" searches footage with.
    pub fn person_vectors(&self, name: &str) -> Result<Vec<Embedding>> {
        let person = self.person(name)?;
        self.refresh()?;
        let synced = self.read_index();
        Ok(synced
            .index
            .samples()
            .filter(|(_, owner, _)| *owner == person.id)
            .filter_map(|(_, _, vector)| Embedding::from_raw(vector.to_vec()))
            .collect())
    }

    /// The `top` people most like `embedding`, best first; with `zone`, only
    /// people holding a grant for it that is valid now.
    pub fn identify(
        &self,
        embedding: &Embedding,
        top: usize,
        zone: Option<&str>,
        threshold: f32,
    ) -> Result<Vec<Identification>> {
        self.check_dimension(embedding)?;
        if let Some(zone) = zone {
            validate_name("zone", zone)?;
        }
        self.refresh()?;
        let allowed = match zone {
            Some(zone) => Some(self.store.granted_people(zone, now())?),
            None => None,
        };
        let matches = {
            let synced = self.read_index();
            match &allowed {
                Some(allowed) => {
                    synced.index.search_among(embedding.as_slice(), top, &|id| allowed.contains(&id))?
                }
                None => synced.index.search(embedding.as_slice(), top)?,
            }
        };
        let ids: Vec<i64> = matches.iter().map(|found| found.person).collect();
        let mut names = self.store.person_names(&ids)?;
        // A person erased since the index was refreshed is no answer.
        Ok(matches
            .into_iter()
            .filter_map(|found| {
                let (person, external_id) = names.remove(&found.person)?;
                Some(Identification {
                    person,
                    external_id,
                    similarity: found.similarity,
                    sample: found.sample,
                    matched: found.similarity >= threshold,
                })
            })
            .collect())
    }

    /// Decides an access request and writes it to the audit trail in the
    /// same transaction: a decision that could not be recorded is an error,
    /// and the caller must treat it as a denial. An unusable zone name is
    /// [`GalleryError::Invalid`] and records nothing.
    pub fn decide_access(
        &self,
        zone: &str,
        probe: &Probe,
        image_sha256: Option<&str>,
        threshold: f32,
    ) -> Result<AccessDecision> {
        self.decide_access_with(
            &AccessContext { zone, image_sha256, source: None, track: None },
            probe,
            threshold,
        )
    }

    /// [`decide_access`](Self::decide_access) with the request's source and track recorded too.
    pub fn decide_access_with(
        &self,
        context: &AccessContext<'_>,
        probe: &Probe,
        threshold: f32,
    ) -> Result<AccessDecision> {
        validate_name("zone", context.zone)?;
        if let Some(source) = context.source {
            validate_name("source", source)?;
        }
        let matches: Vec<PersonMatch>;
        let evidence = match probe {
            Probe::Refused { reason, detail, .. } => Evidence::Refused { reason: *reason, detail },
            Probe::Face { embedding, .. } => {
                self.check_dimension(embedding)?;
                self.refresh()?;
                matches = self.read_index().index.search(embedding.as_slice(), 2)?;
                Evidence::Matches(&matches)
            }
        };
        let record = DecisionRecord {
            zone: context.zone,
            time: now(),
            evidence,
            threshold,
            image_sha256: context.image_sha256,
            source: context.source,
            track: context.track,
            probe_crop: probe.crop(),
        };
        let recorded = self.store.decide_and_record(&record)?;
        let verdict = recorded.verdict;
        Ok(AccessDecision {
            allowed: verdict.allowed(),
            reason: verdict.reason,
            detail: verdict.detail,
            zone: context.zone.to_string(),
            similarity: recorded.person.as_ref().and(verdict.best.as_ref()).map(|b| b.similarity),
            person: recorded.person,
            threshold,
            event_id: recorded.event_id,
        })
    }

    // ---- indexed footage ----------------------------------------------

    /// The `top` appearances in indexed footage most like any of `queries`
    /// (the best faces of one person), best first, among those `filter`
    /// admits: each with its source, times, similarity (the best cosine
    /// between a query and its vectors) and whether it reaches `threshold`.
    ///
    /// Exact, over every appearance's vectors in memory; the first search
    /// of a handle loads them, and every search first catches up with the
    /// store's revision, so appearances written by another process are
    /// found at once. An appearance deleted, expired or erased since is
    /// never an answer.
    pub fn find_appearances(
        &self,
        queries: &[Embedding],
        filter: &AppearanceFilter,
        top: usize,
        threshold: f32,
    ) -> Result<Vec<FoundAppearance>> {
        if queries.len() > MAX_QUERIES || top > MAX_TOP {
            return Err(GalleryError::Invalid(format!(
                "a search takes at most {MAX_QUERIES} faces and returns at most {MAX_TOP} appearances"
            )));
        }
        for query in queries {
            self.check_dimension(query)?;
        }
        let queries: Vec<&[f32]> = queries.iter().map(Embedding::as_slice).collect();
        self.appearances.find(self.store.as_ref(), &queries, filter, top, threshold, now())
    }

    /// The vectors of one indexed appearance, as the appearance index holds them.
    pub(crate) fn appearance_vectors(&self, appearance: i64) -> Result<Vec<Vec<f32>>> {
        self.appearances.vectors_of(self.store.as_ref(), appearance)
    }

    /// Appearances in the index now: the in-memory index is first brought
    /// up to the store's revision (loaded, on a handle that never searched).
    pub fn appearance_count(&self) -> Result<usize> {
        self.appearances.refresh(self.store.as_ref())?;
        Ok(self.appearances.len())
    }

    /// Appearances held in memory, as of the last search (touches no database).
    pub fn indexed_appearances(&self) -> usize {
        self.appearances.len()
    }

    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>> {
        validate_filter("zone", query.zone.as_deref())?;
        validate_filter("person", query.person.as_deref())?;
        self.store.events(query)
    }

    fn check_dimension(&self, embedding: &Embedding) -> Result<()> {
        if embedding.dimension() == self.embedder.dimension {
            return Ok(());
        }
        Err(GalleryError::Invalid(format!(
            "an embedding of {} values cannot be matched against a gallery of {}-d embeddings",
            embedding.dimension(),
            self.embedder.dimension
        )))
    }
}

/// `--strict`: the nearest other person, if they are nearer than the
/// person's own samples (or, for a new person, above the threshold).
fn closer_to_other(
    index: &SearchIndex,
    reader: &mut dyn StoreReader,
    own: Option<i64>,
    embedding: &Embedding,
    threshold: f32,
) -> Result<Option<Rejection>> {
    let own_best = match own {
        Some(person) => index.search_among(embedding.as_slice(), 1, &|id| id == person)?.first().copied(),
        None => None,
    };
    let other = index.search_among(embedding.as_slice(), 1, &|id| Some(id) != own)?.first().copied();
    let Some(other) = other else { return Ok(None) };
    let closer = match own_best {
        Some(own_best) => other.similarity > own_best.similarity,
        None => other.similarity >= threshold,
    };
    if !closer {
        return Ok(None);
    }
    let Some(name) = reader.person_name(other.person)? else { return Ok(None) };
    Ok(Some(Rejection::CloserToOther {
        other: name,
        similarity: other.similarity,
        own: own_best.map(|m| m.similarity),
    }))
}

fn describe(identity: &EmbedderIdentity) -> String {
    format!(
        "{} (sha256 {}…, {})",
        identity.name,
        &identity.sha256[..12.min(identity.sha256.len())],
        identity.preprocessing
    )
}

/// A filter by a name that no row could hold (empty, too long, control
/// characters) is refused like the name itself would be, rather than
/// quietly matching nothing: the caller has made a mistake worth reporting.
fn validate_filter(kind: &str, name: Option<&str>) -> Result<()> {
    name.map_or(Ok(()), |name| validate_name(kind, name))
}
