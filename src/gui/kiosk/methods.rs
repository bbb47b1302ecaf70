//! The methods a stall's payment QR takes, as `[kiosk] payment_method` names them.

use fairpos_domain::payment::Method;

use crate::error::{Error, Result};

/// The methods of `[kiosk] payment_method`: those a stall's payment QR takes, each once.
pub(crate) fn qr_methods(names: &[String]) -> Result<Vec<Method>> {
    let mut methods = Vec::new();
    for name in names {
        let method = Method::parse(name)?;
        if !method.by_qr() {
            return Err(Error::input(format!(
                "[kiosk] payment_method {name:?}: a payment QR takes wechat, alipay or unionpay"
            )));
        }
        if methods.contains(&method) {
            return Err(Error::input(format!(
                "[kiosk] payment_method names {name} twice"
            )));
        }
        methods.push(method);
    }
    if methods.is_empty() {
        return Err(Error::input(
            "[kiosk] payment_method names no method: give wechat, alipay or unionpay",
        ));
    }
    Ok(methods)
}
