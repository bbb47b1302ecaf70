//! How many sync sockets each peer (a till, a hub, a dashboard session) holds open to this
//! process: at most `--max-sync-sockets`. A till syncs over one socket at a time; a second
//! comes while one its network dropped is still open here (until `--sync-idle` finds it
//! out), so when a peer opens one more than its share, its oldest is let go and the newest
//! kept: a till on flapping Wi-Fi is never refused, and a device token used to open sockets
//! by the thousand holds no more than its share of the server.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::quiet_log::QuietLog;

/// The sync sockets open to this process, by peer.
pub struct SyncSlots {
    max: usize,
    open: Mutex<Open>,
    told: Arc<QuietLog>,
}

#[derive(Default)]
struct Open {
    /// Each peer's sockets, oldest first: a slot's number, and what tells its socket to go.
    by_peer: HashMap<String, VecDeque<(u64, oneshot::Sender<()>)>>,
    taken: u64,
}

/// One socket's place among its peer's, given back when dropped.
pub struct SyncSlot {
    slots: Arc<SyncSlots>,
    peer: String,
    number: u64,
}

impl SyncSlots {
    /// At most `max` sockets for each peer (at least one). Lines about sockets let go are
    /// written at most once a minute for each peer (on a task of the current runtime).
    pub fn new(max: usize) -> Arc<SyncSlots> {
        Arc::new(SyncSlots {
            max: max.max(1),
            open: Mutex::default(),
            told: QuietLog::told_when_due(),
        })
    }

    /// A place for a new socket of `peer_id` (named `name` in the log), and what resolves
    /// once the socket is to be let go for a newer one. When the peer already holds its
    /// share, its oldest socket is told to go now, and that is logged.
    pub fn take(self: &Arc<Self>, peer_id: &str, name: &str) -> (SyncSlot, oneshot::Receiver<()>) {
        let (go, gone) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.taken += 1;
        let number = open.taken;
        let sockets = open.by_peer.entry(peer_id.to_string()).or_default();
        sockets.push_back((number, go));
        if sockets.len() > self.max {
            // One that is ending already (its slot not yet given back) is not told.
            let told = sockets.pop_front().map(|(_, oldest)| oldest.send(()));
            if told == Some(Ok(())) {
                self.told.write(
                    format!("sync slots of {peer_id}"),
                    format!(
                        "{name}: sync connection closed: a newer one came, and {} is the most \
                         one peer may hold open (--max-sync-sockets)",
                        self.max
                    ),
                );
            }
        }
        let slot = SyncSlot {
            slots: self.clone(),
            peer: peer_id.to_string(),
            number,
        };
        (slot, gone)
    }

    /// How many sockets `peer_id` holds open.
    #[cfg(test)]
    fn held(&self, peer_id: &str) -> usize {
        let open = self.open.lock().unwrap();
        open.by_peer.get(peer_id).map_or(0, VecDeque::len)
    }
}

impl Drop for SyncSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sockets) = open.by_peer.get_mut(&self.peer) {
            sockets.retain(|(number, _)| *number != self.number);
            if sockets.is_empty() {
                open.by_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oneshot::error::TryRecvError;

    #[tokio::test]
    async fn a_peer_past_its_share_lets_its_oldest_socket_go_and_others_are_untouched() {
        let slots = SyncSlots::new(2);
        let (first, mut first_gone) = slots.take("device:T01", "T01");
        let (second, mut second_gone) = slots.take("device:T01", "T01");
        let (_other, mut other_gone) = slots.take("device:T02", "T02");
        assert_eq!(first_gone.try_recv(), Err(TryRecvError::Empty));
        let (third, mut third_gone) = slots.take("device:T01", "T01");
        assert_eq!(first_gone.try_recv(), Ok(()), "the oldest goes");
        assert_eq!(second_gone.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(third_gone.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(other_gone.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(slots.held("device:T01"), 2);
        // The socket let go ends and gives its place back: nothing else changes.
        drop(first);
        assert_eq!(slots.held("device:T01"), 2);
        // One closing on its own frees a place: the next takes it and no one goes.
        drop(second);
        let (_fourth, mut fourth_gone) = slots.take("device:T01", "T01");
        assert_eq!(third_gone.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(fourth_gone.try_recv(), Err(TryRecvError::Empty));
        drop(third);
        assert_eq!(slots.held("device:T01"), 1);
    }

    #[tokio::test]
    async fn a_peer_whose_sockets_all_closed_is_forgotten() {
        let slots = SyncSlots::new(1);
        let (only, _) = slots.take("hub:H1", "H1");
        let (newer, _) = slots.take("hub:H1", "H1");
        drop(only);
        drop(newer);
        assert!(slots.open.lock().unwrap().by_peer.is_empty());
        assert_eq!(SyncSlots::new(0).max, 1, "at least one");
    }
}
