use std::collections::{HashMap, HashSet};

use crate::{
    DialerId, DocSearchPhase, DocumentActorId,
    actors::hub::{
        dialer::{DialerState, DialerStatus},
        state::ActorInfo,
    },
};

pub(super) struct Searches {
    pub(super) phases: HashMap<DocumentActorId, DocSearchPhase>,
    pub(super) last_dialers: HashMap<DialerId, DialerStatus>,
    /// Actors added, or whose phase may have changed, since the last `pop_state_updates`
    /// (fairpos patch: see vendor/FAIRPOS-PATCH.md).
    changed: HashSet<DocumentActorId>,
}

impl Searches {
    pub(super) fn new() -> Self {
        Self {
            phases: HashMap::new(),
            last_dialers: HashMap::new(),
            changed: HashSet::new(),
        }
    }

    /// Notes that `actor` was added or its search phase set: the next `pop_state_updates`
    /// compares it.
    pub(super) fn mark_changed(&mut self, actor: DocumentActorId) {
        self.changed.insert(actor);
    }

    pub(super) fn add_search(&mut self, actor: DocumentActorId, phase: DocSearchPhase) {
        self.changed.insert(actor);
        self.phases.insert(actor, phase);
    }

    pub(super) fn pop_state_updates(
        &mut self,
        actors: &HashMap<DocumentActorId, ActorInfo>,
        dialers: &HashMap<DialerId, DialerState>,
    ) -> HashMap<DocumentActorId, DocSearchPhase> {
        let new_dialer_state = dialers
            .iter()
            .map(|(dialer_id, state)| (*dialer_id, state.status.clone()))
            .collect::<HashMap<DialerId, DialerStatus>>();
        let dialers_changed = self.last_dialers != new_dialer_state;
        self.last_dialers = new_dialer_state;

        let mut result = HashMap::new();
        // fairpos patch: only the actors marked changed, unless the dialers changed (this
        // compared every actor's phase after every hub event: with hundreds of peers, each
        // phase a map of them).
        let changed = std::mem::take(&mut self.changed);
        let candidates: Box<dyn Iterator<Item = (&DocumentActorId, &ActorInfo)>> =
            if dialers_changed {
                Box::new(actors.iter())
            } else {
                Box::new(changed.iter().filter_map(|id| actors.get_key_value(id)))
            };
        for (actor_id, actor) in candidates {
            let last_phase = self.phases.get(actor_id);
            if last_phase != Some(&actor.search_phase) || dialers_changed {
                result.insert(*actor_id, actor.search_phase.clone());
            }
            self.phases.insert(*actor_id, actor.search_phase.clone());
        }
        result
    }
}
