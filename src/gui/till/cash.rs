//! Cash put into the drawer or taken out of it during a shift (a float brought later, takings
//! taken to the safe), behind the lead PIN: the shift's cash-up counts each move, which only
//! the command line could record while no window held the till.

use fairpos_domain::{DomainError, Fen};

use super::{Screen, TillController};
use crate::gui::views::{edit_digits, pick, yuan};

/// Why cash moves, as a tap chooses it: the words kept with the move (Chinese, as the
/// ledger keeps them) and shown in English.
pub const CASH_REASONS: [(&str, &str); 3] = [
    ("备用金", "Float or change"),
    ("存入保险柜或银行", "To the safe or the bank"),
    ("摊位支出", "A stall expense"),
];

/// The move being entered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CashMove {
    /// Yuan typed on the keypad.
    pub input: String,
    /// Taken out of the drawer (else put in).
    pub out: bool,
    /// Which of [`CASH_REASONS`].
    pub reason: Option<usize>,
}

impl TillController {
    /// Opens the cash move screen (from selling, with a shift open).
    pub fn start_cash_move(&mut self) {
        self.cash = CashMove::default();
        self.pin.clear();
        self.screen = Screen::CashMove;
    }

    pub fn cash_key(&mut self, key: &str) {
        edit_digits(&mut self.cash.input, key, 2, 9);
    }

    pub fn cash_direction(&mut self, out: bool) {
        self.cash.out = out;
    }

    pub fn cash_reason(&mut self, index: usize) {
        if index < CASH_REASONS.len() {
            self.cash.reason = Some(index);
        }
    }

    /// The reasons as the screen lists them, in the volunteer's language.
    pub fn cash_reasons(&self) -> Vec<String> {
        CASH_REASONS
            .iter()
            .map(|(zh, en)| pick(self.lang, zh, en).to_string())
            .collect()
    }

    /// Records the move, behind the lead PIN typed; back to selling once it is written.
    pub fn record_cash_move(&mut self) {
        let amount = match Fen::parse_yuan(&self.cash.input) {
            Ok(a) if a.is_positive() => a,
            Ok(_) => {
                return self.say("请输入金额", "Type the amount first");
            }
            Err(e) => return self.fail(e),
        };
        let Some(reason) = self.cash.reason else {
            return self.fail(DomainError::ReasonNeeded);
        };
        let Some(pin) = self.typed_lead_pin() else {
            return;
        };
        if let Err(e) = self.guarded_pin(|till| till.store().check_lead_pin(&pin)) {
            return self.fail(e);
        }
        let signed = if self.cash.out { -amount } else { amount };
        let (why, _) = CASH_REASONS[reason];
        match self
            .now()
            .and_then(|now| self.till.cash_move(signed, why, now))
        {
            Ok(()) => {
                let shown = yuan(amount);
                let (zh, en) = if self.cash.out {
                    (
                        format!("已从钱箱取出 {shown}"),
                        format!("{shown} taken out of the drawer"),
                    )
                } else {
                    (
                        format!("已放入钱箱 {shown}"),
                        format!("{shown} put into the drawer"),
                    )
                };
                self.cash = CashMove::default();
                self.screen = Screen::Sell;
                self.say(&zh, &en);
            }
            Err(e) => self.fail(e),
        }
    }
}
