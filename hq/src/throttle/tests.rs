use super::*;

const THREE: Limit = Limit {
    failures: 3,
    window: Duration::from_secs(60),
};

/// A login of `name` from `from` that is let through, and fails (a wrong password).
async fn fails(t: &Throttle, from: IpAddr, name: &str) {
    Attempt::login(t, from, name, None)
        .await
        .unwrap_or_else(|refused| panic!("{name} from {from}: {refused:?}"))
        .failed();
}

/// A login of `name` from `from` that is let through, and succeeds.
async fn logs_in(t: &Throttle, from: IpAddr, name: &str) {
    Attempt::login(t, from, name, None)
        .await
        .unwrap_or_else(|refused| panic!("{name} from {from}: {refused:?}"))
        .succeeded()
        .await;
}

#[test]
fn a_key_waits_after_its_limit_until_the_oldest_failure_leaves_the_window() {
    let t = Throttle::default();
    let start = Instant::now();
    for i in 0..3 {
        let at = start + Duration::from_secs(i * 10);
        assert_eq!(t.begin(&[("a", THREE)], at), Ok(()), "try {i}");
    }
    let now = start + Duration::from_secs(25);
    assert_eq!(t.begin(&[("a", THREE)], now), Err(Duration::from_secs(35)));
    assert_eq!(t.begin(&[("b", THREE)], now), Ok(()), "other keys are free");
    assert_eq!(
        t.begin(&[("a", THREE)], start + Duration::from_secs(60)),
        Ok(())
    );
    t.forget("a");
    assert_eq!(t.begin(&[("a", THREE)], now), Ok(()));
}

#[test]
fn an_attempt_taken_back_does_not_count_and_a_refused_one_counts_nowhere() {
    let t = Throttle::default();
    let now = Instant::now();
    let one = Limit {
        failures: 1,
        window: Duration::from_secs(100),
    };
    assert_eq!(t.begin(&[("addr", THREE), ("account", one)], now), Ok(()));
    // The account's one failure refuses the next attempt, which counts against no key.
    let later = now + Duration::from_secs(1);
    assert!(t
        .begin(&[("addr", THREE), ("account", one)], later)
        .is_err());
    t.undo("account", now);
    assert_eq!(t.begin(&[("addr", THREE), ("account", one)], later), Ok(()));
    // addr holds two attempts (the refused one was not counted).
    let third = now + Duration::from_secs(2);
    t.undo("account", later);
    assert_eq!(t.begin(&[("addr", THREE)], third), Ok(()));
    assert!(t.begin(&[("addr", THREE)], third).is_err());
}

/// A pool whose database never answers: nothing listens on port 1.
fn unreachable() -> fairpos_postgres::Pool {
    fairpos_postgres::connect("postgres://fairpos@127.0.0.1:1/none").unwrap()
}

#[tokio::test]
async fn attempts_the_database_cannot_count_are_counted_here() {
    let t = Throttle::shared_in(unreachable());
    let address: IpAddr = "203.0.113.7".parse().unwrap();
    for _ in 0..5 {
        fails(&t, address, "organizer").await;
    }
    let refused = Attempt::login(&t, address, "organizer", None).await.err();
    let refused = refused.expect("the sixth, refused by this process's count");
    assert!(refused.seconds > 590, "{refused:?}");
}

#[tokio::test]
async fn a_refusal_of_the_database_is_answered_here_until_its_wait_is_over() {
    let t = Throttle::shared_in(unreachable());
    let shared = t.shared.as_ref().unwrap();
    let address: IpAddr = "203.0.113.7".parse().unwrap();
    let now = Instant::now();
    shared.remember_refused("login@203.0.113.7:organizer", Duration::from_secs(30), now);
    // Not asked of the database, which would not answer (and the attempt would then be
    // counted here, and taken).
    let refused = Attempt::login(&t, address, "organizer", None).await.err();
    let refused = refused.expect("remembered");
    assert!((29..=30).contains(&refused.seconds), "{refused:?}");
    // Another account from the address was not refused: asked (here, counted here).
    fails(&t, address, "lead1").await;
    // A success of the account from the address forgets what was refused with it.
    let pair = "login@203.0.113.7:organizer";
    shared.take_back(&[pair.to_string()], Some(pair), &[]).await;
    fails(&t, address, "organizer").await;
    // The address at its limit: every account from it refused here, lead2 too, the
    // longest wait said; not from elsewhere.
    shared.remember_refused("login@203.0.113.7", Duration::from_secs(200), now);
    shared.remember_refused("login:lead2", Duration::from_secs(50), now);
    let refused = Attempt::login(&t, address, "lead2", None).await.err();
    assert!((199..=200).contains(&refused.expect("the address").seconds));
    let elsewhere: IpAddr = "192.0.2.1".parse().unwrap();
    let refused = Attempt::login(&t, elsewhere, "lead2", None).await.err();
    assert!((49..=50).contains(&refused.expect("the account").seconds));
    fails(&t, elsewhere, "lead1").await;
    // An attempt taken back on the address (another one, in flight, that succeeded):
    // the address may be below its limit again, so the database is asked again.
    let keys = [
        "login@203.0.113.7:lead3",
        "login@203.0.113.7",
        "login:lead3",
    ];
    let keys = keys.map(String::from);
    shared.take_back(&keys, Some(&keys[0]), &[]).await;
    fails(&t, address, "lead4").await;
    // A refusal whose wait is over is asked again.
    shared.remember_refused("enrol@198.51.100.1", Duration::ZERO, now);
    let from: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(Attempt::enrolment(&t, from).await.is_ok());
}

#[tokio::test]
async fn one_person_mistyping_locks_out_only_their_account_from_their_address() {
    let t = Throttle::default();
    let venue: IpAddr = "198.51.100.20".parse().unwrap();
    for _ in 0..5 {
        fails(&t, venue, "lead1").await;
    }
    assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
    // Another lead behind the venue's address, and lead1 from elsewhere, log in.
    logs_in(&t, venue, "lead2").await;
    let home: IpAddr = "203.0.113.1".parse().unwrap();
    logs_in(&t, home, "lead1").await;
    // A guesser trying account after account from one address: 30 failures, then
    // every account is refused from there, lead2 too.
    for i in 0..25 {
        fails(&t, venue, &format!("name{i}")).await;
    }
    let refused = Attempt::login(&t, venue, "lead2", None).await.err();
    assert!(refused.expect("the address's limit").seconds > 590);
    // Elsewhere lead2 is not.
    fails(&t, home, "lead2").await;
}

#[tokio::test]
async fn a_browser_that_logged_in_before_is_held_by_its_own_failures_alone() {
    let t = Throttle::default();
    let venue: IpAddr = "198.51.100.20".parse().unwrap();
    // A guesser: 20 failures on lead1 from four addresses, 30 on others from the venue's.
    for i in 0..50 {
        let (from, name) = match i {
            0..20 => (
                format!("203.0.113.{}", 10 + i / 5).parse().unwrap(),
                "lead1".into(),
            ),
            _ => (venue, format!("name{i}")),
        };
        fails(&t, from, &name).await;
    }
    assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
    let home: IpAddr = "203.0.113.1".parse().unwrap();
    assert!(
        Attempt::login(&t, home, "lead1", None).await.is_err(),
        "the account's"
    );
    // lead1's own browser at the venue is not held by those, mistypes five times, and
    // then is.
    let known = Some("0123456789abcdef0123456789abcdef");
    for i in 0..5 {
        let attempt = Attempt::login(&t, venue, "lead1", known).await;
        attempt.unwrap_or_else(|_| panic!("known try {i}")).failed();
    }
    assert!(Attempt::login(&t, venue, "lead1", known).await.is_err());
    // Another browser lead1 logged in from before is not.
    let other = Some("fedcba9876543210fedcba9876543210");
    Attempt::login(&t, venue, "lead1", other)
        .await
        .unwrap()
        .succeeded()
        .await;
}

#[tokio::test]
async fn a_success_forgets_the_accounts_own_failures_from_its_address_only() {
    let t = Throttle::default();
    let venue: IpAddr = "198.51.100.20".parse().unwrap();
    for _ in 0..4 {
        fails(&t, venue, "lead1").await;
    }
    logs_in(&t, venue, "lead1").await;
    // lead1's four are forgotten: five more may fail before a refusal.
    for _ in 0..5 {
        fails(&t, venue, "lead1").await;
    }
    assert!(Attempt::login(&t, venue, "lead1", None).await.is_err());
    // The address still holds all nine failures: 21 more to any other accounts refuse it.
    for i in 0..21 {
        fails(&t, venue, &format!("name{i}")).await;
    }
    assert!(Attempt::login(&t, venue, "lead2", None).await.is_err());
}

#[test]
fn ipv6_guessers_are_held_by_their_64() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
    assert_eq!(address_key(a), address_key(b));
    assert_eq!(address_key("::ffff:10.0.0.7".parse().unwrap()), "10.0.0.7");
}

/// A wait is told in whole seconds rounded up: a client waiting what it was told is not
/// refused again at once.
#[test]
fn a_wait_is_told_rounded_up() {
    let told = |ms| super::attempt::Refused::after(Duration::from_millis(ms)).seconds;
    assert_eq!(told(1500), 2);
    assert_eq!(told(599_600), 600);
    assert_eq!(told(600_000), 600);
    assert_eq!(told(10), 1);
}
