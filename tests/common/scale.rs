//! A counter scale on a serial pty, speaking Mettler Toledo 8217 or SMA byte for byte: it
//! answers only the exact questions of its protocol (SMA's `<LF>?<CR>` to anything else),
//! with the weight and state the test puts on it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fairpos_hardware::scale::{sma, toledo, Protocol, Reading, ScaleState};

#[derive(Clone)]
pub struct FakeScale {
    reading: Arc<Mutex<Reading>>,
    /// Every question the scale was asked, as bytes.
    pub asked: Arc<Mutex<Vec<Vec<u8>>>>,
    /// How answers are torn ([`FakeScale::tear`]), if they are.
    torn: Arc<Mutex<Option<Torn>>>,
    stop: Arc<AtomicBool>,
}

/// Bytes sent before each answer, where it is cut in two, and the pause between the halves.
type Torn = (Vec<u8>, usize, Duration);

impl FakeScale {
    /// A scale on `path` (the far end of a pty pair) speaking `protocol`, empty and settled.
    pub fn on_pty(path: &Path, protocol: Protocol) -> FakeScale {
        let scale = FakeScale {
            reading: Arc::new(Mutex::new(Reading {
                grams: 0,
                state: ScaleState::Stable,
                unit: "kg".into(),
            })),
            asked: Arc::default(),
            torn: Arc::default(),
            stop: Arc::default(),
        };
        let me = scale.clone();
        let mut port = serialport::new(path.to_string_lossy(), 9600)
            .timeout(Duration::from_millis(20))
            .open()
            .expect("open the scale's end of the pty");
        std::thread::spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 256];
            while !me.stop.load(Ordering::Relaxed) {
                let n = match port.read(&mut buf) {
                    Ok(n) if n > 0 => n,
                    _ => continue,
                };
                pending.extend_from_slice(&buf[..n]);
                while let Some((question, answer)) = me.answer(&mut pending, protocol) {
                    me.asked.lock().unwrap().push(question);
                    let torn = me.torn.lock().unwrap().clone();
                    if let Some((before, at, pause)) = torn {
                        let at = at.min(answer.len());
                        let _ = port.write_all(&[&before[..], &answer[..at]].concat());
                        let _ = port.flush();
                        std::thread::sleep(pause);
                        let _ = port.write_all(&answer[at..]);
                    } else {
                        let _ = port.write_all(&answer);
                    }
                    let _ = port.flush();
                }
            }
        });
        scale
    }

    /// Takes one whole question off `pending` and what the scale says to it.
    fn answer(&self, pending: &mut Vec<u8>, protocol: Protocol) -> Option<(Vec<u8>, Vec<u8>)> {
        let reading = self.reading.lock().unwrap().clone();
        match protocol {
            Protocol::Toledo8217 => {
                let &first = pending.first()?;
                pending.remove(0);
                match first {
                    b'W' => Some((vec![first], toledo::answer(&reading))),
                    b'Z' | b'T' => {
                        self.zero_or_tare();
                        let reading = self.reading.lock().unwrap().clone();
                        Some((vec![first], toledo::answer(&reading)))
                    }
                    // The 8217 scale ignores what it does not know.
                    _ => None,
                }
            }
            Protocol::Sma => {
                let end = pending.iter().position(|&b| b == b'\r')?;
                let question: Vec<u8> = pending.drain(..=end).collect();
                let answer = match question.as_slice() {
                    b"\nW\r" => sma::answer(&reading),
                    b"\nZ\r" | b"\nT\r" => {
                        self.zero_or_tare();
                        sma::answer(&self.reading.lock().unwrap())
                    }
                    _ => b"\n?\r".to_vec(),
                };
                Some((question, answer))
            }
        }
    }

    fn zero_or_tare(&self) {
        let mut r = self.reading.lock().unwrap();
        r.grams = 0;
        r.state = ScaleState::Stable;
    }

    /// Puts `grams` on the plate, in `state`.
    pub fn set(&self, grams: i64, state: ScaleState) {
        let mut r = self.reading.lock().unwrap();
        r.grams = grams;
        r.state = state;
    }

    /// Sends `before` ahead of each answer from now on (line noise, the tail of an earlier
    /// answer), then the answer's first `at` bytes, and the rest after `pause`.
    pub fn tear(&self, before: &[u8], at: usize, pause: Duration) {
        *self.torn.lock().unwrap() = Some((before.to_vec(), at, pause));
    }

    pub fn asked(&self) -> Vec<Vec<u8>> {
        self.asked.lock().unwrap().clone()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
