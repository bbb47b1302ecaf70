//! `hq serve` under a service manager that reads `NOTIFY_SOCKET` (systemd's `Type=notify`
//! or `Type=notify-reload`): it says when it serves (its listeners bound, every start-up
//! step done, so a unit ordered after it finds it answering), when it reads its files again
//! on SIGHUP and is done, and when it stops. Without `NOTIFY_SOCKET` nothing is sent. A
//! message that cannot be sent is logged, and the server goes on.

use sd_notify::NotifyState;

/// Serving: `status` says where.
pub fn ready(status: &str) {
    tell(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Reading its files again (SIGHUP), with the time systemd asks for since v253.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    tell(&states);
}

/// Done reading its files again.
pub fn reloaded() {
    tell(&[NotifyState::Ready]);
}

/// Stopping (SIGTERM or SIGINT): finishing what is under way.
pub fn stopping() {
    tell(&[NotifyState::Stopping]);
}

fn tell(states: &[NotifyState]) {
    // The variable stays set: every message goes to the same socket.
    if let Err(e) = sd_notify::notify(false, states) {
        eprintln!("cannot tell the service manager (NOTIFY_SOCKET): {e}");
    }
}
