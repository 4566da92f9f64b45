//! The revision and the change log: every write moves the revision on in
//! its transaction and logs the samples it adds or removes, and [`Reader`]
//! reads them back (with the few lookups the enrolment check and the
//! access rules make) inside one transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::connection::AtPath;
use crate::error::Result;
use crate::store::api::{CHANGE_LOG_KEPT, Changes, Snapshot, StoreReader};
use crate::store::common::{change_from_row, stored_sample};

/// Moves the revision on by one and returns it; every write calls it in its
/// transaction. Now and then the oldest part of the change logs (samples'
/// and appearances') goes.
pub(super) fn bump(db: &Connection, path: &str) -> Result<i64> {
    let revision: i64 = db
        .query_row("UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value", [], |row| row.get(0))
        .at(path)?;
    if revision % 1000 == 0 && revision > CHANGE_LOG_KEPT {
        let floor = revision - CHANGE_LOG_KEPT;
        db.execute("UPDATE revision SET log_floor = max(log_floor, ?1) WHERE id = 1", [floor]).at(path)?;
        db.execute("DELETE FROM changes WHERE rev <= ?1", [floor]).at(path)?;
        db.execute("DELETE FROM appearance_changes WHERE rev <= ?1", [floor]).at(path)?;
    }
    Ok(revision)
}

pub(super) fn log_change(
    db: &Connection,
    path: &str,
    revision: i64,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
) -> Result<()> {
    db.execute(
        "INSERT INTO changes (rev, op, sample_id, person_id) VALUES (?1, ?2, ?3, ?4)",
        params![revision, op, sample, person],
    )
    .at(path)?;
    Ok(())
}

/// [`StoreReader`] over a connection or an open transaction.
pub(super) struct Reader<'c> {
    pub(super) db: &'c Connection,
    pub(super) path: &'c str,
}

impl StoreReader for Reader<'_> {
    fn revision(&mut self) -> Result<i64> {
        self.db.query_row("SELECT value FROM revision WHERE id = 1", [], |row| row.get(0)).at(self.path)
    }

    fn changes_since(&mut self, since: i64) -> Result<Changes> {
        let (revision, floor): (i64, i64) = self
            .db
            .query_row("SELECT value, log_floor FROM revision WHERE id = 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .at(self.path)?;
        if since < floor || since > revision {
            return Ok(Changes::Truncated);
        }
        let mut statement = self
            .db
            .prepare_cached(
                "SELECT c.op, c.sample_id, c.person_id, s.embedding
                 FROM changes c LEFT JOIN samples s ON s.id = c.sample_id AND s.person_id = c.person_id
                 WHERE c.rev > ?1 AND c.rev <= ?2 ORDER BY c.seq",
            )
            .at(self.path)?;
        let mut rows = statement.query(params![since, revision]).at(self.path)?;
        let mut changes = Vec::new();
        while let Some(row) = rows.next().at(self.path)? {
            let op: String = row.get(0).at(self.path)?;
            let sample: Option<i64> = row.get(1).at(self.path)?;
            let person: Option<i64> = row.get(2).at(self.path)?;
            let embedding: Option<Vec<u8>> = row.get(3).at(self.path)?;
            changes.push(change_from_row(self.path, &op, sample, person, embedding)?);
        }
        Ok(Changes::Log { revision, changes })
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let revision = self.revision()?;
        let mut statement = self.db.prepare("SELECT id, person_id, embedding FROM samples").at(self.path)?;
        let mut rows = statement.query([]).at(self.path)?;
        let mut samples = Vec::new();
        while let Some(row) = rows.next().at(self.path)? {
            let (sample, person): (i64, i64) = (row.get(0).at(self.path)?, row.get(1).at(self.path)?);
            let bytes: Vec<u8> = row.get(2).at(self.path)?;
            samples.push(stored_sample(self.path, sample, person, &bytes)?);
        }
        Ok(Snapshot { revision, samples })
    }

    fn person_name(&mut self, person: i64) -> Result<Option<String>> {
        self.db
            .prepare_cached("SELECT name FROM people WHERE id = ?1")
            .and_then(|mut statement| statement.query_row([person], |row| row.get(0)).optional())
            .at(self.path)
    }

    fn zone_exists(&mut self, zone: &str) -> Result<bool> {
        self.db
            .query_row("SELECT EXISTS (SELECT 1 FROM zones WHERE name = ?1)", [zone], |row| row.get(0))
            .at(self.path)
    }

    fn granted(&mut self, person: i64, zone: &str, time: i64) -> Result<bool> {
        self.db
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM grants g JOIN zones z ON z.id = g.zone_id
                  WHERE g.person_id = ?1 AND z.name = ?2
                    AND (g.valid_from IS NULL OR g.valid_from <= ?3)
                    AND (g.valid_until IS NULL OR ?3 < g.valid_until))",
            )
            .and_then(|mut statement| statement.query_row(params![person, zone, time], |row| row.get(0)))
            .at(self.path)
    }
}
