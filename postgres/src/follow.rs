//! The projection's maintenance loop, which every process of a headquarters may run at once:
//! project what is stored already ([`catch_up`]), then each document any process stores, as
//! it is heard of ([`follow`]). Records count once whoever projects them, so two processes
//! doing the same work waste time but double nothing, and a process that dies mid-pass
//! leaves its transaction rolled back for the others to do.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::{stream, StreamExt};

use fairpos_sync::samod::DocumentId;

use crate::documents::{Heard, Listener};
use crate::ledgers::{project_reading, Reading};
use crate::{registry, Error, Pool, Result};

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Documents projected, or found projected already.
    pub documents: usize,
    /// Of those, the documents with records new to the projection: not found projected
    /// already (by this process before, or by another).
    pub with_new_records: usize,
    /// Every document the pass took, projected, refused or neither (the catalog).
    pub took: Vec<DocumentId>,
    /// Records new to the projection.
    pub new_records: usize,
    /// Of the documents projected, those whose document was loaded to project them (the
    /// others' new chunks read on their own, or nothing new in them).
    pub documents_loaded: usize,
    /// Products tills added offline, in those records: for headquarters to fold into the
    /// fair's catalog.
    pub product_adds: Vec<fairpos_sync::catalog::CatalogProduct>,
    /// Documents refused (not the ledger their id says, a forged record or change), with
    /// why; the others are projected all the same. A refusal is stored with the document and
    /// logged (once) as a sync event of its device.
    pub refused: Vec<(DocumentId, String)>,
    /// Documents that do not read as a ledger (yet: a till's first changes may still be on
    /// their way), with why; taken again when more of them is stored.
    pub unreadable: Vec<(DocumentId, String)>,
    /// Documents the database failed on (a lost connection, a timeout), with why; the others
    /// are projected all the same, and [`follow`] takes these again a second later.
    pub failed: Vec<(DocumentId, String)>,
    /// Ledgers projected with a change that waits for one not stored yet
    /// ([`crate::Projected::changes_waiting`]): [`follow`] takes these again a second later.
    pub waiting: Vec<DocumentId>,
    /// How long the pass took, from taking its documents to their last outcome.
    pub took_time: Duration,
}

/// Documents a pass projects at once: one is decoded while others' rows are written and
/// another's transaction holds the projection lock. Eight against four took 500 tills'
/// syncs about 5 % faster (four alternated pairs, every one faster); sixteen no faster.
const AT_ONCE: usize = 8;

impl Pass {
    /// Projects `docs`, [`AT_ONCE`] at a time, telling `done(n)` as the `n`th is; what each
    /// came to is taken in their order. What is new of those among `from_document` is read
    /// from their documents ([`Reading::Document`]).
    async fn project_all<'a>(
        &mut self,
        pool: &Pool,
        docs: impl IntoIterator<Item = &'a DocumentId>,
        max_bytes: Option<u64>,
        from_document: &BTreeSet<DocumentId>,
        mut done: impl FnMut(usize),
    ) {
        let projecting = stream::iter(docs.into_iter().cloned())
            .map(|doc| {
                let pool = pool.clone();
                let reading = if from_document.contains(&doc) {
                    Reading::Document
                } else {
                    Reading::ChunksAlone
                };
                async move {
                    let outcome = project_reading(&pool, &doc, max_bytes, reading).await;
                    (doc, outcome)
                }
            })
            .buffered(AT_ONCE);
        // Taken once all are done: a refusal stored meanwhile would leave the others unpolled,
        // one of them perhaps holding the projection lock every process waits for.
        let mut projected = 0;
        let outcomes: Vec<_> = projecting
            .inspect(|_| {
                projected += 1;
                done(projected);
            })
            .collect()
            .await;
        for (doc, outcome) in outcomes {
            self.take(pool, &doc, outcome).await;
        }
    }

    async fn take(
        &mut self,
        pool: &Pool,
        doc: &DocumentId,
        outcome: Result<Option<crate::Projected>>,
    ) {
        self.took.push(doc.clone());
        match outcome {
            Ok(Some(projected)) => {
                self.documents += 1;
                if projected.new > 0 {
                    self.with_new_records += 1;
                }
                self.new_records += projected.new;
                self.documents_loaded += usize::from(projected.document_loaded);
                if projected.changes_waiting {
                    self.waiting.push(doc.clone());
                }
                self.product_adds.extend(projected.product_adds);
            }
            Ok(None) => {}
            // A value PostgreSQL never takes is the ledger's, not the moment's: refused.
            Err(e) if e.refuses_ledger() => {
                let why = e.to_string();
                match registry::refuse(pool, &doc.to_string(), &why).await {
                    Ok(()) => self.refused.push((doc.clone(), why)),
                    Err(e) => self.failed.push((doc.clone(), e.to_string())),
                }
            }
            Err(e @ Error::Ledger(_)) => self.unreadable.push((doc.clone(), e.to_string())),
            Err(e) => self.failed.push((doc.clone(), e.to_string())),
        }
    }
}

/// Projects every document stored (a ledger over `max_bytes` refused), telling
/// `progress(done, of)` as each is projected: a province's first projection takes minutes.
pub async fn catch_up(
    pool: &Pool,
    max_bytes: Option<u64>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Pass> {
    let client = pool.get().await?;
    let docs: Vec<DocumentId> = client
        .query(
            "SELECT DISTINCT split_part(key, '/', 1) FROM samod_kv ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .filter_map(|r| r.get::<_, &str>(0).parse().ok())
        .collect();
    drop(client);
    let started = Instant::now();
    let mut pass = Pass::default();
    let of = docs.len();
    pass.project_all(pool, &docs, max_bytes, &BTreeSet::new(), |done| {
        progress(done, of)
    })
    .await;
    pass.took_time = started.elapsed();
    Ok(pass)
}

/// Takes the ledgers `pass` projected with a change waiting ([`Pass::waiting`]) again at
/// once, reading what is still unread from each document, which judges it: a fork on an
/// older state by another actor is refused as forged; a change whose predecessor is not
/// stored stays unread, its ledger in the backlog until that is stored. For a one-shot
/// projection, which has no later pass; [`follow`] does the same a second later. Only what
/// the second reading adds is counted, not the ledgers taken again.
pub async fn read_waiting(pool: &Pool, max_bytes: Option<u64>, pass: &mut Pass) {
    let docs: BTreeSet<DocumentId> = std::mem::take(&mut pass.waiting).into_iter().collect();
    if docs.is_empty() {
        return;
    }
    let mut again = Pass::default();
    again
        .project_all(pool, &docs, max_bytes, &docs, |_| {})
        .await;
    // Every field named, so that one added to `Pass` is weighed here too.
    let Pass {
        documents: _,
        with_new_records: _,
        took: _,
        new_records,
        documents_loaded,
        product_adds,
        refused,
        unreadable,
        failed,
        waiting: _,
        took_time: _,
    } = again;
    pass.new_records += new_records;
    pass.documents_loaded += documents_loaded;
    pass.product_adds.extend(product_adds);
    pass.refused.extend(refused);
    pass.unreadable.extend(unreadable);
    pass.failed.extend(failed);
}

/// How long a document the database failed on first waits before it is taken again; each
/// failure after doubles it, up to [`LONGEST_RETRY`].
const RETRY: Duration = Duration::from_secs(1);
const LONGEST_RETRY: Duration = Duration::from_secs(60);

/// How long a ledger projected with a change that waits for one not stored yet waits before
/// it is taken again: the change it waits for is usually stored within milliseconds (with
/// its own notice, and read then); what is still unread a second later goes to the document.
const WAITING_AGAIN: Duration = Duration::from_secs(1);

/// How long a ledger another process stored (and projects itself) is left to it before this
/// process looks whether it was projected, and projects it if not: the other process may
/// have been killed between its store and its projection.
pub const LEFT_TO_ANOTHER: Duration = Duration::from_secs(3);

/// How soon a ledger left to another process is looked at once its projection is heard of;
/// those due within as long again are looked at with it, in the same query: in a storm,
/// about one query a second instead of one per ledger.
const LOOK_SOON: Duration = Duration::from_millis(500);

/// Projects each document `listener` hears of (those heard together, once each), calling
/// `done` after each batch that took any, until the listener's connection ends. Documents a
/// batch failed on (and those of `failed_before`, a [`catch_up`]'s) are taken again later, a
/// second after the first failure, waits doubling up to a minute. A ledger projected with a
/// change that waits for one not stored yet is taken again a second after that first pass:
/// what is still unread then is read from its document, which judges it (a fork on an
/// older state by another actor is refused as forged).
///
/// A ledger another process stored ([`Heard::LeftToAnother`]) is left to it for
/// [`LEFT_TO_ANOTHER`], or until a projection of it is heard of; then, if its chunks were
/// projected meanwhile, it is only reported to `done` (a till waiting here for its
/// confirmation asks again), else projected here. So two processes do not both wait for each
/// ledger's turn, and a ledger whose process died is projected all the same.
pub async fn follow(
    pool: &Pool,
    listener: &mut Listener,
    max_bytes: Option<u64>,
    failed_before: &Pass,
    done: impl FnMut(&Pass),
) -> Result<()> {
    follow_leaving(
        pool,
        listener,
        max_bytes,
        failed_before,
        LEFT_TO_ANOTHER,
        done,
    )
    .await
}

/// [`follow`], leaving ledgers another process stored to it for `left_for`.
pub async fn follow_leaving(
    pool: &Pool,
    listener: &mut Listener,
    max_bytes: Option<u64>,
    failed_before: &Pass,
    left_for: Duration,
    mut done: impl FnMut(&Pass),
) -> Result<()> {
    // Per document the database failed on: failures so far and when to try again.
    let mut again: HashMap<DocumentId, (u32, Instant)> = HashMap::new();
    // Per ledger projected with a change waiting: when to take it again.
    let mut waiting: HashMap<DocumentId, Instant> = HashMap::new();
    let mut left = LeftToOthers {
        looks: HashMap::new(),
        left_for,
    };
    let first_wait = Instant::now() + RETRY;
    for (doc, _) in &failed_before.failed {
        again.insert(doc.clone(), (1, first_wait));
    }
    for doc in &failed_before.waiting {
        waiting.insert(doc.clone(), Instant::now() + WAITING_AGAIN);
    }
    loop {
        // `Some(None)`: the listener's connection ended; `None`: time to look again.
        let next_look = again
            .values()
            .map(|(_, at)| *at)
            .chain(waiting.values().copied())
            .chain(left.next_look())
            .min();
        let first = match next_look {
            None => Some(listener.next().await),
            Some(at) => tokio::select! {
                heard = listener.next() => Some(heard),
                _ = tokio::time::sleep_until(at.into()) => None,
            },
        };
        let now = Instant::now();
        let mut heard: BTreeSet<DocumentId> = again
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(doc, _)| doc.clone())
            .collect();
        // Ledgers taken again with a change waiting: what is still unread goes to the
        // document, whatever was stored since (a till storing a change each second would
        // otherwise keep a fork waiting beside it).
        let mut from_document = BTreeSet::new();
        waiting.retain(|doc, at| {
            let due = *at <= now;
            if due {
                heard.insert(doc.clone());
                from_document.insert(doc.clone());
            }
            !due
        });
        match first {
            Some(Some(news)) => left.hear(news, now, &mut heard),
            Some(None) => return Ok(()),
            None => {}
        }
        while let Some(news) = listener.try_next() {
            left.hear(news, now, &mut heard);
        }
        let started = Instant::now();
        let mut pass = Pass::default();
        left.take_due(pool, now, &mut heard, &mut pass).await;
        // What each document taken now had failed before.
        let before: HashMap<DocumentId, u32> = heard
            .iter()
            .filter_map(|doc| again.remove(doc).map(|(n, _)| (doc.clone(), n)))
            .collect();
        pass.project_all(pool, &heard, max_bytes, &from_document, |_| {})
            .await;
        for (doc, _) in &pass.failed {
            let failures = before.get(doc).copied().unwrap_or(0) + 1;
            let wait = RETRY
                .saturating_mul(1 << (failures - 1).min(6))
                .min(LONGEST_RETRY);
            again.insert(doc.clone(), (failures, Instant::now() + wait));
        }
        // A ledger read with nothing waiting any more (what it waited for was stored
        // meanwhile, as usual) is not taken again from its document.
        let unsettled: BTreeSet<&DocumentId> = (pass.waiting.iter())
            .chain(pass.failed.iter().map(|(doc, _)| doc))
            .collect();
        for doc in &pass.took {
            if !unsettled.contains(doc) {
                waiting.remove(doc);
            }
        }
        // A second after the first pass that left it waiting, not after the last.
        for doc in &pass.waiting {
            waiting
                .entry(doc.clone())
                .or_insert_with(|| Instant::now() + WAITING_AGAIN);
        }
        pass.took_time = started.elapsed();
        // Nothing but ledgers left to another process heard: nothing to tell.
        if !(pass.took.is_empty() && pass.failed.is_empty()) {
            done(&pass);
        }
    }
}

/// The ledgers another process stored and projects itself, left to it for `left_for`, and
/// when to look whether it did.
struct LeftToOthers {
    looks: HashMap<DocumentId, Look>,
    left_for: Duration,
}

/// When to look whether a ledger left to another process was projected.
struct Look {
    at: Instant,
    /// A projection of it was heard of: the other process is at work on it.
    heard_projected: bool,
}

impl LeftToOthers {
    fn next_look(&self) -> Option<Instant> {
        self.looks.values().map(|look| look.at).min()
    }

    /// Takes in what was heard at `now`; a document to project here now goes to `heard`.
    fn hear(&mut self, news: Heard, now: Instant, heard: &mut BTreeSet<DocumentId>) {
        match news {
            Heard::LeftToAnother(doc) => {
                self.looks.entry(doc).or_insert(Look {
                    at: now + self.left_for,
                    heard_projected: false,
                });
            }
            // Projected here now, from every chunk stored so far, whoever stored it.
            Heard::Stored(doc) => {
                self.looks.remove(&doc);
                heard.insert(doc);
            }
            // Looked at soon rather than later: a till may wait here for its confirmation.
            Heard::Projected(doc) => {
                if let Some(look) = self.looks.get_mut(&doc) {
                    look.at = look.at.min(now + LOOK_SOON);
                    look.heard_projected = true;
                }
            }
        }
    }

    /// Once one ledger is due by `now`, looks at those due within [`LOOK_SOON`] (and not in
    /// `heard`, taken anyway) in one query: those projected meanwhile are reported as taken
    /// by `pass`; those still unprojected are added to `heard`, unless a projection of them
    /// was heard of (the other process is at work on them, and stored more since it read
    /// them): those are left to it again. If the query fails, they are the pass's failures,
    /// taken again later.
    async fn take_due(
        &mut self,
        pool: &Pool,
        now: Instant,
        heard: &mut BTreeSet<DocumentId>,
        pass: &mut Pass,
    ) {
        if !self.looks.values().any(|look| look.at <= now) {
            return;
        }
        let due: Vec<(DocumentId, bool)> = self
            .looks
            .iter()
            .filter(|(doc, look)| look.at <= now + LOOK_SOON && !heard.contains(*doc))
            .map(|(doc, look)| (doc.clone(), look.heard_projected))
            .collect();
        for (doc, _) in &due {
            self.looks.remove(doc);
        }
        let docs: Vec<DocumentId> = due.iter().map(|(doc, _)| doc.clone()).collect();
        if docs.is_empty() {
            return;
        }
        match crate::ledgers::unprojected(pool, &docs).await {
            Ok(unprojected) => {
                let unprojected: BTreeSet<DocumentId> = unprojected.into_iter().collect();
                for (doc, heard_projected) in due {
                    if !unprojected.contains(&doc) {
                        pass.documents += 1;
                        pass.took.push(doc);
                    } else if heard_projected {
                        self.hear(Heard::LeftToAnother(doc), now, heard);
                    } else {
                        heard.insert(doc);
                    }
                }
            }
            Err(e) => pass
                .failed
                .extend(docs.into_iter().map(|doc| (doc, e.to_string()))),
        }
    }
}
