//! A device as a person reads it ("Chrome 120 on Linux"), from a User-Agent string, for "Your
//! sessions". woothee carries its patterns in the crate: nothing is fetched at run time.

use woothee::parser::Parser;

const UNKNOWN: &str = "UNKNOWN";

/// "Firefox 128 on Windows 10", "Chrome 120 on Linux", or "Unknown browser".
pub fn name(user_agent: &str) -> String {
    let Some(found) = Parser::new().parse(user_agent) else {
        return "Unknown browser".to_string();
    };
    if found.name == UNKNOWN {
        return "Unknown browser".to_string();
    }
    let mut name = found.name.to_string();
    let major = found.version.split('.').next().unwrap_or_default();
    if !major.is_empty() && major != UNKNOWN {
        name.push(' ');
        name.push_str(major);
    }
    if found.os != UNKNOWN && !found.os.is_empty() {
        name.push_str(" on ");
        name.push_str(found.os);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::name;

    #[test]
    fn browsers_are_named_with_their_major_version_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(name(chrome), "Chrome 156 on Linux");
        let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 \
                       Firefox/128.0";
        assert_eq!(name(firefox), "Firefox 128 on Windows 10");
        assert_eq!(
            name("curl/8.5.0"),
            "HTTP Library curl",
            "named as woothee knows it"
        );
        assert_eq!(name("unknown"), "Unknown browser");
    }
}
