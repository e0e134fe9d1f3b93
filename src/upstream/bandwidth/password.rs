//! Initial passwords for dashboard creates. The dashboard requires one; the person sets
//! their own from Bandwidth's welcome email, so the bridge only needs one that passes the
//! rules (12+ chars, all four classes, none of username/first/last/email) and that nobody
//! can guess. It is returned as a `SecretString`, never logged and never stored.

use rand::seq::SliceRandom;
use rand::Rng;
use secrecy::SecretString;

pub(crate) const LENGTH: usize = 24;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGIT: &[u8] = b"23456789";
/// No quotes, backslash or angle brackets: nothing that needs escaping anywhere.
const SYMBOL: &[u8] = b"!#$%*+-=?@^_~";

/// A random password containing none of `forbidden` (case-insensitive; empty words are
/// ignored). Short words like a two-letter first name can occur by chance, so candidates
/// are drawn until one avoids them all.
pub(crate) fn generate(forbidden: &[&str]) -> SecretString {
    let words: Vec<String> = forbidden
        .iter()
        .map(|w| w.trim().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let mut rng = rand::thread_rng();
    loop {
        let candidate = candidate(&mut rng);
        let lower = candidate.to_lowercase();
        if !words.iter().any(|w| lower.contains(w.as_str())) {
            return SecretString::from(candidate);
        }
    }
}

fn candidate<R: Rng>(rng: &mut R) -> String {
    let all: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL].concat();
    let mut chars: Vec<u8> = [UPPER, LOWER, DIGIT, SYMBOL]
        .iter()
        .map(|class| class[rng.gen_range(0..class.len())])
        .collect();
    while chars.len() < LENGTH {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(rng);
    chars.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn check(p: &str, forbidden: &[&str]) {
        assert_eq!(p.chars().count(), LENGTH);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
        assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
        assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()), "{p}");
        for w in forbidden {
            if !w.is_empty() {
                assert!(
                    !p.to_lowercase().contains(&w.to_lowercase()),
                    "{p} contains {w}"
                );
            }
        }
    }

    #[test]
    fn passwords_follow_the_rules() {
        let forbidden = ["jdoe", "Jo", "Li", "jdoe@example.com", ""];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            let p = generate(&forbidden);
            check(p.expose_secret(), &forbidden);
            seen.insert(p.expose_secret().to_string());
        }
        assert_eq!(seen.len(), 500, "passwords repeat");
    }

    #[test]
    fn single_letter_names_are_avoided() {
        for _ in 0..100 {
            let p = generate(&["A", "b"]);
            check(p.expose_secret(), &["a", "B"]);
        }
    }

    #[test]
    fn debug_hides_password() {
        let p = generate(&[]);
        assert!(!format!("{p:?}").contains(p.expose_secret()));
    }
}
