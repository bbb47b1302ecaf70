//! Weighed lines taking the scale's settled weight, or the keypad's.

use fairpos_hardware::scale::{Reading, ScaleState};

use super::*;

fn reading(grams: i64, state: ScaleState) -> Result<Reading, ScaleTrouble> {
    Ok(Reading {
        grams,
        state,
        unit: "kg".into(),
    })
}

#[test]
fn the_weight_pad_takes_the_scales_settled_weight() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.has_scale = true;
    // 猕猴桃 at 7.80 per 斤: the pad opens and shows the live weight.
    c.add_product("HY-MHT-LB");
    c.scale_reading(reading(1370, ScaleState::Motion));
    let (live, ok) = c.live_weight().unwrap();
    assert!(live.contains("1.370 kg") && !ok, "{live}");
    // "Add" while the goods still move: the line goes in once the scale settles.
    c.weigh_ok();
    assert!(c.cart.is_empty() && c.weighing.as_ref().unwrap().waiting);
    c.scale_reading(reading(1250, ScaleState::Stable));
    assert!(c.weighing.is_none());
    assert_eq!(c.lines()[0].qty, "2.5斤");
    assert_eq!(c.total(), Fen(1950));
    // Over capacity: refused, the pad stays open; a typed weight wins over the scale's.
    c.add_product("HY-MHT-LB");
    c.scale_reading(reading(640, ScaleState::Stable));
    assert_eq!(c.live_weight().unwrap(), ("0.640 kg · stable".into(), true));
    // An 8217 overloaded answers with its status byte alone: no weight is shown.
    c.scale_reading(reading(0, ScaleState::OverCapacity));
    let (live, ok) = c.live_weight().unwrap();
    assert!(
        !live.contains("kg") && live.contains("capacity") && !ok,
        "{live}"
    );
    c.weigh_ok();
    assert!(c
        .message
        .as_ref()
        .is_some_and(|m| m.bad && m.text(fairpos_domain::Lang::En).contains("capacity")));
    c.weigh_key("1");
    c.weigh_ok();
    assert_eq!(c.cart.lines().len(), 2);
    assert_eq!(c.cart.lines()[1].qty, 500);
    // A scale not reached is "not connected"; one whose answer cannot be read (its protocol
    // or baud set wrong) is said so, not sent to check the cables.
    c.add_product("HY-MHT-LB");
    let silent = fairpos_hardware::Error::Silent("scale /dev/ttyS0 did not answer".into());
    c.scale_reading(Err(ScaleTrouble::of(&silent)));
    assert_eq!(c.live_weight().unwrap().0, "Scale not connected");
    let garbled = fairpos_hardware::Error::Scale("scale /dev/ttyS0: no STX".into());
    c.scale_reading(Err(ScaleTrouble::of(&garbled)));
    let (live, ok) = c.live_weight().unwrap();
    assert_eq!((live.as_str(), ok), ("Scale answer unreadable", false));
    c.weigh_ok();
    assert!(c
        .message
        .as_ref()
        .is_some_and(|m| m.bad && m.text(fairpos_domain::Lang::En).contains("no STX")));
}

#[test]
fn a_weighed_line_weighed_again_takes_the_new_weight_from_the_scale_or_the_keypad() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = signed_in(dir.path());
    c.has_scale = true;
    c.add_product("HY-MHT-LB");
    c.scale_reading(reading(750, ScaleState::Stable));
    // "Add" asks the scale once more, and takes that answer.
    c.weigh_ok();
    assert!(c.take_weigh_now() && !c.take_weigh_now(), "asked once");
    assert!(
        c.lines().is_empty(),
        "not the weight shown before the press"
    );
    c.fresh_reading(reading(750, ScaleState::Stable));
    assert_eq!(c.lines()[0].qty, "1.5斤");
    // More goes in the bag: "+" on the line, the bag on the scale, "Add".
    c.inc(0);
    assert_eq!(c.weighing.as_ref().unwrap().line, Some(0));
    c.scale_reading(reading(900, ScaleState::Stable));
    c.weigh_ok();
    // A reading the scale's thread sent before the question at "Add" was answered (read up
    // to a quarter second before the press: goods put on since were not charged): shown,
    // not taken.
    c.scale_reading(reading(900, ScaleState::Stable));
    assert_eq!(c.lines()[0].qty, "1.5斤");
    c.fresh_reading(reading(1000, ScaleState::Stable));
    assert!(c.weighing.is_none());
    // Asked at "Add", the scale does not answer: said, and the line waits for another
    // "Add" (it went in by itself once the scale was back, perhaps minutes later).
    c.inc(0);
    c.scale_reading(reading(1000, ScaleState::Stable));
    c.weigh_ok();
    let silent = fairpos_hardware::Error::Silent("scale /dev/ttyS0 did not answer".into());
    c.fresh_reading(Err(ScaleTrouble::of(&silent)));
    assert!(!c.weighing.as_ref().unwrap().waiting);
    assert!(c.message.as_ref().is_some_and(|m| m.bad), "{:?}", c.message);
    c.scale_reading(reading(1000, ScaleState::Stable));
    assert!(c.weighing.is_some(), "not taken by itself");
    c.weigh_cancel();
    assert_eq!(c.lines().len(), 1);
    assert_eq!(c.lines()[0].qty, "2斤");
    assert_eq!(c.total(), Fen(1560));
    // Typed instead: the digits are the new weight, not added to the old one's.
    c.inc(0);
    c.weigh_key("3");
    c.weigh_ok();
    assert_eq!(c.lines()[0].qty, "3斤");
}
