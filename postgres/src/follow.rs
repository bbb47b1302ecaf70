//! The projection's maintenance loop, which every process of a headquarters may run at once:
//! project what is stored already ([`catch_up`]), then each document any process stores, as
//! it is heard of ([`follow`]). Records count once whoever projects them, so two processes
//! doing the same work waste time but double nothing, and a process that dies mid-pass
//! leaves its transaction rolled back for the others to do.

use std::collections::BTreeSet;

use fairpos_sync::samod::DocumentId;

use crate::documents::Listener;
use crate::{project_document, registry, Error, Pool, Result};

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Documents projected.
    pub documents: usize,
    /// Every document the pass took, projected, refused or neither (the catalog).
    pub took: Vec<DocumentId>,
    /// Records new to the projection.
    pub new_records: usize,
    /// Documents refused (not a ledger, not the ledger their id says, a forged record), with
    /// why; the others are projected all the same.
    pub refused: Vec<(DocumentId, String)>,
}

impl Pass {
    async fn project(&mut self, pool: &Pool, doc: &DocumentId) -> Result<()> {
        self.took.push(doc.clone());
        match project_document(pool, doc).await {
            Ok(Some(new)) => {
                self.documents += 1;
                self.new_records += new;
            }
            Ok(None) => {}
            Err(e @ (Error::Integrity(_) | Error::Ledger(_))) => {
                let why = e.to_string();
                registry::refuse(pool, &doc.to_string(), &why).await?;
                self.refused.push((doc.clone(), why))
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Projects every document stored.
pub async fn catch_up(pool: &Pool) -> Result<Pass> {
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
    let mut pass = Pass::default();
    for doc in &docs {
        pass.project(pool, doc).await?;
    }
    Ok(pass)
}

/// Projects each document `listener` hears of (those heard together, once each), calling
/// `done` after each batch, until the listener's connection ends.
pub async fn follow(
    pool: &Pool,
    listener: &mut Listener,
    mut done: impl FnMut(&Pass),
) -> Result<()> {
    while let Some(first) = listener.next().await {
        let mut heard = BTreeSet::from([first]);
        while let Some(more) = listener.try_next() {
            heard.insert(more);
        }
        let mut pass = Pass::default();
        for doc in &heard {
            pass.project(pool, doc).await?;
        }
        done(&pass);
    }
    Ok(())
}
