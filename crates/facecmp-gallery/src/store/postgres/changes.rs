//! The revision and the change log: a write locks the revision row first
//! and bumps it last, notifying [`CHANNEL`], and logs the samples it adds
//! or removes; [`Reader`] reads them back (with the few lookups the
//! enrolment check and the access rules make) inside one transaction.

use postgres::{GenericClient, Row};

use super::connection::pg_error;
use crate::error::Result;
use crate::store::api::{CHANGE_LOG_KEPT, Changes, Snapshot, StoreReader};
use crate::store::common::{change_from_row, stored_sample};

/// The channel revision bumps are notified on.
pub const CHANNEL: &str = "facecmp_revision";

/// The current revision, its row locked until the transaction ends.
pub(super) fn lock_revision(client: &mut impl GenericClient, location: &str) -> Result<i64> {
    Ok(client
        .query_one("SELECT value FROM revision WHERE id = 1 FOR UPDATE", &[])
        .map_err(|e| pg_error(location, e))?
        .get(0))
}

/// Moves the revision on by one, notifies the new revision, and returns
/// it; the store's `write` calls it last in its transaction. Now and then
/// the oldest part of the change logs (samples' and appearances') goes.
pub(super) fn bump(client: &mut impl GenericClient, location: &str) -> Result<i64> {
    let revision: i64 = client
        .query_one("UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value", &[])
        .map_err(|e| pg_error(location, e))?
        .get(0);
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &revision.to_string()])
        .map_err(|e| pg_error(location, e))?;
    if revision % 1000 == 0 && revision > CHANGE_LOG_KEPT {
        let floor = revision - CHANGE_LOG_KEPT;
        client
            .execute("UPDATE revision SET log_floor = GREATEST(log_floor, $1) WHERE id = 1", &[&floor])
            .map_err(|e| pg_error(location, e))?;
        client
            .execute("DELETE FROM changes WHERE rev <= $1", &[&floor])
            .map_err(|e| pg_error(location, e))?;
        client
            .execute("DELETE FROM appearance_changes WHERE rev <= $1", &[&floor])
            .map_err(|e| pg_error(location, e))?;
    }
    Ok(revision)
}

pub(super) fn log_change(
    client: &mut impl GenericClient,
    location: &str,
    revision: i64,
    op: &str,
    sample: Option<i64>,
    person: Option<i64>,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO changes (rev, op, sample_id, person_id) VALUES ($1, $2, $3, $4)",
            &[&revision, &op, &sample, &person],
        )
        .map_err(|e| pg_error(location, e))?;
    Ok(())
}

/// [`StoreReader`] over a connection or an open transaction.
pub(super) struct Reader<'c, C: GenericClient> {
    pub(super) client: &'c mut C,
    pub(super) location: &'c str,
}

impl<C: GenericClient> Reader<'_, C> {
    fn query(&mut self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Vec<Row>> {
        self.client.query(sql, params).map_err(|e| pg_error(self.location, e))
    }
}

impl<C: GenericClient> StoreReader for Reader<'_, C> {
    fn revision(&mut self) -> Result<i64> {
        Ok(self.query("SELECT value FROM revision WHERE id = 1", &[])?[0].get(0))
    }

    fn changes_since(&mut self, since: i64) -> Result<Changes> {
        let row = &self.query("SELECT value, log_floor FROM revision WHERE id = 1", &[])?[0];
        let (revision, floor): (i64, i64) = (row.get(0), row.get(1));
        if since < floor || since > revision {
            return Ok(Changes::Truncated);
        }
        let rows = self.query(
            "SELECT c.op, c.sample_id, c.person_id, s.embedding
             FROM changes c LEFT JOIN samples s ON s.id = c.sample_id
             WHERE c.rev > $1 AND c.rev <= $2 ORDER BY c.seq",
            &[&since, &revision],
        )?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let op: String = row.get(0);
            let (sample, person): (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
            changes.push(change_from_row(self.location, &op, sample, person, row.get(3))?);
        }
        Ok(Changes::Log { revision, changes })
    }

    fn snapshot(&mut self) -> Result<Snapshot> {
        let revision = self.revision()?;
        let rows = self.query("SELECT id, person_id, embedding FROM samples", &[])?;
        let mut samples = Vec::with_capacity(rows.len());
        for row in rows {
            let (sample, person, bytes): (i64, i64, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            samples.push(stored_sample(self.location, sample, person, &bytes)?);
        }
        Ok(Snapshot { revision, samples })
    }

    fn person_name(&mut self, person: i64) -> Result<Option<String>> {
        // Holds the row until the transaction ends: an erasure waits for a
        // decision about this person to be recorded, then tombstones it too.
        Ok(self
            .query("SELECT name FROM people WHERE id = $1 FOR KEY SHARE", &[&person])?
            .first()
            .map(|r| r.get(0)))
    }

    fn zone_exists(&mut self, zone: &str) -> Result<bool> {
        Ok(!self.query("SELECT 1 FROM zones WHERE name = $1", &[&zone])?.is_empty())
    }

    fn granted(&mut self, person: i64, zone: &str, time: i64) -> Result<bool> {
        Ok(!self
            .query(
                "SELECT 1 FROM grants g JOIN zones z ON z.id = g.zone_id
                 WHERE g.person_id = $1 AND z.name = $2
                   AND (g.valid_from IS NULL OR g.valid_from <= $3)
                   AND (g.valid_until IS NULL OR $3 < g.valid_until)",
                &[&person, &zone, &time],
            )?
            .is_empty())
    }
}
