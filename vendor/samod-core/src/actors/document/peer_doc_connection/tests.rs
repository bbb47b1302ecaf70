use super::*;
use crate::{DocumentId, actors::document::phase::request::Request};

fn document() -> Automerge {
    let mut doc = Automerge::new();
    doc.empty_commit(Default::default());
    doc
}

fn connection() -> PeerDocConnection {
    PeerDocConnection::new("remote".into(), ConnectionId::new())
}

#[test]
fn ordinary_generation_returns_one_message_then_an_empty_batch() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    let doc = document();
    let now = UnixTimestamp::now();
    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.heads, doc.get_heads());
    let state = conn.pop().unwrap();
    assert_eq!(state.last_sent, Some(now));
    assert_eq!(state.last_sent_heads, Some(doc.get_heads()));
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
    assert!(conn.pop().is_none());
}

#[test]
fn fallback_reset_batch_converges_with_an_empty_legacy_peer() {
    let now = UnixTimestamp::now();
    let mut doc = document();
    let mut remote = Automerge::new();
    let mut remote_state = sync::State::new();
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut hello = remote.generate_sync_message(&mut remote_state).unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 2);
    assert!(messages[0].0.heads.is_empty());
    assert_eq!(messages[1].0.heads, doc.get_heads());
    assert_eq!(conn.state().last_sent_heads, Some(doc.get_heads()));
    let mut messages = messages.into_iter();
    remote
        .receive_sync_message(&mut remote_state, messages.next().unwrap().0)
        .unwrap();
    assert!(remote.generate_sync_message(&mut remote_state).is_none());
    assert_ne!(doc.get_heads(), remote.get_heads());
    remote
        .receive_sync_message(&mut remote_state, messages.next().unwrap().0)
        .unwrap();

    for _ in 0..20 {
        let reply = remote.generate_sync_message(&mut remote_state);
        let replied = reply.is_some();
        if let Some(mut reply) = reply {
            reply.flags = None;
            conn.receive_sync_message(now, &mut doc, reply).unwrap();
        }
        let messages = conn.generate_sync_messages(now, &doc);
        if !replied && messages.is_empty() {
            assert_eq!(doc.get_heads(), remote.get_heads());
            return;
        }
        for (message, _) in messages {
            remote
                .receive_sync_message(&mut remote_state, message)
                .unwrap();
        }
    }
    panic!("sync did not become quiescent");
}

#[test]
fn advertised_reset_support_needs_only_one_message() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = document();
    let now = UnixTimestamp::now();
    let hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0.heads, doc.get_heads());
    assert!(
        messages[0]
            .0
            .flags
            .unwrap()
            .contains(sync::MessageFlags::SYNC_RESET)
    );
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
}

#[test]
fn empty_document_needs_no_follow_up_after_a_fallback_reset() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = Automerge::new();
    let now = UnixTimestamp::now();
    let mut hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());

    let messages = conn.generate_sync_messages(now, &doc);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].0.heads.is_empty());
    assert!(conn.generate_sync_messages(now, &doc).is_empty());
}

#[test]
fn only_the_first_message_of_a_request_batch_initiates_a_request() {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_only());
    let mut doc = document();
    let now = UnixTimestamp::now();
    let mut hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    hello.flags = None;
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    conn.set_share_config(ShareConfig::read_write());
    let mut request = Request::new(DocumentId::new(&mut rand::rng()), std::iter::once(&conn));

    let messages = request.generate_messages(now, &doc, &mut conn);
    assert_eq!(messages.len(), 2);
    let SyncMessage::Request { data } = &messages[0].0 else {
        panic!("first message must initiate the request");
    };
    assert!(sync::Message::decode(data).unwrap().heads.is_empty());
    let SyncMessage::Sync { data } = &messages[1].0 else {
        panic!("subsequent messages must continue sync");
    };
    assert_eq!(sync::Message::decode(data).unwrap().heads, doc.get_heads());
}

// fairpos patch: a peer's whole document received into an empty one is kept as it came.
fn whole_document_message(bytes: Vec<u8>, heads: Vec<automerge::ChangeHash>) -> sync::Message {
    sync::Message {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: bytes.into(),
        flags: None,
        version: sync::MessageVersion::V2,
    }
}

/// A connection that takes the peer's changes.
fn writable_connection() -> PeerDocConnection {
    let mut conn = connection();
    conn.set_share_config(ShareConfig::read_write());
    conn
}

fn sender() -> Automerge {
    let mut remote = Automerge::new();
    for n in 0..20 {
        let mut tx = remote.transaction();
        automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "n", n as i64).unwrap();
        tx.commit();
    }
    remote
}

#[test]
fn a_whole_document_received_into_an_empty_one_is_kept_as_it_came() {
    let remote = sender();
    let saved = remote.save();
    let mut conn = writable_connection();
    let mut doc = Automerge::new();
    let message = whole_document_message(saved.clone(), remote.get_heads());
    conn.receive_sync_message(UnixTimestamp::now(), &mut doc, message)
        .unwrap();
    assert_eq!(doc.get_heads(), remote.get_heads());
    assert_eq!(
        conn.take_received_document(),
        Some((remote.get_heads(), saved))
    );
    assert_eq!(conn.take_received_document(), None);
}

#[test]
fn a_whole_document_is_not_kept_with_bytes_after_it_or_into_a_document_that_is_not_empty() {
    let remote = sender();
    // The document and then one of its changes again: automerge loads both (the change
    // changes nothing), so only the check of the bytes tells them from a document.
    let mut padded = remote.save();
    padded.extend_from_slice(remote.get_last_local_change().unwrap().raw_bytes());
    let mut conn = writable_connection();
    let mut doc = Automerge::new();
    let message = whole_document_message(padded, remote.get_heads());
    conn.receive_sync_message(UnixTimestamp::now(), &mut doc, message)
        .unwrap();
    assert_eq!(
        doc.get_heads(),
        remote.get_heads(),
        "they load all the same"
    );
    assert_eq!(conn.take_received_document(), None);

    let mut conn = writable_connection();
    let mut doc = document();
    let message = whole_document_message(remote.save(), remote.get_heads());
    conn.receive_sync_message(UnixTimestamp::now(), &mut doc, message)
        .unwrap();
    assert_eq!(conn.take_received_document(), None);

    // A document with no heads but a change waiting for its dependencies is not empty:
    // automerge then takes the chunk's changes without checking the heads it declares.
    let mut conn = writable_connection();
    let mut doc = Automerge::new();
    let orphan = remote.get_last_local_change().unwrap().clone();
    doc.apply_changes([orphan]).unwrap();
    assert!(doc.get_heads().is_empty() && !doc.is_empty());
    let message = whole_document_message(remote.save(), remote.get_heads());
    conn.receive_sync_message(UnixTimestamp::now(), &mut doc, message)
        .unwrap();
    assert_eq!(conn.take_received_document(), None);

    // Nor is a message that names no heads (here an empty document's) kept.
    let mut conn = writable_connection();
    let mut doc = Automerge::new();
    let message = whole_document_message(Automerge::new().save(), Vec::new());
    conn.receive_sync_message(UnixTimestamp::now(), &mut doc, message)
        .unwrap();
    assert_eq!(conn.take_received_document(), None);
}

#[test]
fn only_one_document_chunk_counts_as_a_whole_document() {
    let remote = sender();
    assert!(is_one_document_chunk(&remote.save()));
    assert!(is_one_document_chunk(&remote.save_nocompress()));
    let change = remote.get_last_local_change().unwrap().raw_bytes().to_vec();
    assert!(!is_one_document_chunk(&change));
    let saved = remote.save();
    assert!(!is_one_document_chunk(&saved[..saved.len() - 1]));
    assert!(!is_one_document_chunk(&[saved.clone(), saved].concat()));
    assert!(!is_one_document_chunk(&[]));
}

/// Exchanges messages between `conn` (for `doc`) and `remote` until neither has one to send
/// (fairpos patch).
fn exchange(
    conn: &mut PeerDocConnection,
    doc: &mut Automerge,
    remote: &mut Automerge,
    remote_state: &mut sync::State,
) {
    let now = UnixTimestamp::now();
    for _ in 0..20 {
        let mut quiet = true;
        for (message, _) in conn.generate_sync_messages(now, doc) {
            quiet = false;
            remote.receive_sync_message(remote_state, message).unwrap();
        }
        if let Some(reply) = remote.generate_sync_message(remote_state) {
            quiet = false;
            conn.receive_sync_message(now, doc, reply).unwrap();
        }
        if quiet {
            return;
        }
    }
    panic!("sync did not become quiescent");
}

#[test]
fn a_quiet_peer_is_asked_again_once_its_sync_state_or_the_document_moves() {
    let now = UnixTimestamp::now();
    let mut doc = document();
    let mut conn = writable_connection();
    let mut remote = Automerge::new();
    let mut remote_state = sync::State::new();
    exchange(&mut conn, &mut doc, &mut remote, &mut remote_state);
    assert_eq!(remote.get_heads(), doc.get_heads());
    assert_eq!(conn.quiet_heads, Some(doc.get_heads()));
    assert!(conn.generate_sync_messages(now, &doc).is_empty());

    // A message that leaves the document as it was still moves the sync state: here an
    // empty peer's first message on the same connection, which is to be sent the document.
    let hello = Automerge::new()
        .generate_sync_message(&mut sync::State::new())
        .unwrap();
    let heads = doc.get_heads();
    conn.receive_sync_message(now, &mut doc, hello).unwrap();
    assert_eq!(doc.get_heads(), heads);
    let mut empty = Automerge::new();
    let mut empty_state = sync::State::new();
    let reply = conn.generate_sync_messages(now, &doc);
    assert!(!reply.is_empty(), "the empty peer is sent nothing");
    for (message, _) in reply {
        empty.receive_sync_message(&mut empty_state, message).unwrap();
    }
    assert_eq!(empty.get_heads(), doc.get_heads());

    // A change to the document is sent to a quiet peer.
    exchange(&mut conn, &mut doc, &mut empty, &mut empty_state);
    assert!(conn.quiet_heads.is_some());
    doc.empty_commit(Default::default());
    exchange(&mut conn, &mut doc, &mut empty, &mut empty_state);
    assert_eq!(empty.get_heads(), doc.get_heads());

    // Whatever else moves the sync state forgets the quiet heads.
    assert!(conn.quiet_heads.is_some());
    conn.set_share_config(ShareConfig::read_only());
    assert!(conn.quiet_heads.is_none());
    exchange(&mut conn, &mut doc, &mut empty, &mut empty_state);
    assert!(conn.quiet_heads.is_some());
    conn.prepare_request();
    assert!(conn.quiet_heads.is_none());
    exchange(&mut conn, &mut doc, &mut empty, &mut empty_state);
    assert!(conn.quiet_heads.is_some());
    conn.reset_sync_state();
    assert!(conn.quiet_heads.is_none());
}
