//! Recursive-descent parser for filters, attribute paths and PATCH paths.
//!
//! The lexer works on byte offsets but only ever cuts the input at ASCII delimiters or at
//! `char` boundaries found by `char_indices`, so no input can make it slice inside a UTF-8
//! sequence. Recursion happens only at `(`, `not (` and `[`, and is capped by
//! [`MAX_NESTING`]; `and`/`or` chains are built iteratively.
use super::{AttrPath, CompValue, CompareOp, Filter, PatchPath, ScimError, MAX_NESTING, MAX_TERMS};

/// One lexical token. Words are maximal runs of anything but whitespace, `()[]` and `"`:
/// attribute paths, keywords, operators and bare values are told apart by the parser,
/// because which one a word is depends on where it stands (`not` may be an attribute).
#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(&'a str),
    End,
}

/// A sub-attribute written after `]` (`.value`), with the byte position of its name.
type SubAttr = (String, usize);

/// A token with its byte span in the input.
struct Spanned<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

/// Which error `scimType` to raise: filters say `invalidFilter`, PATCH and projection
/// paths say `invalidPath`.
#[derive(Clone, Copy)]
enum Flavor {
    Filter,
    Path,
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    terms: usize,
    flavor: Flavor,
}

/// Shortens what we echo back so a megabyte of garbage does not end up in a log line.
fn excerpt(s: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn describe(tok: &Tok<'_>, raw: &str) -> String {
    match tok {
        Tok::End => "end of input".to_string(),
        Tok::Str(_) => format!("string {}", excerpt(raw)),
        _ => format!("'{}'", excerpt(raw)),
    }
}

/// `ATTRNAME = ALPHA *(nameChar)`, plus `$ref` (RFC 7643 attribute name outside the ABNF).
fn valid_name(name: &str) -> bool {
    if name.eq_ignore_ascii_case("$ref") {
        return true;
    }
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, flavor: Flavor) -> Self {
        Parser {
            src,
            pos: 0,
            depth: 0,
            terms: 0,
            flavor,
        }
    }

    fn err(&self, detail: String) -> ScimError {
        match self.flavor {
            Flavor::Filter => ScimError::invalid_filter(detail),
            Flavor::Path => ScimError::invalid_path(detail),
        }
    }

    fn err_at(&self, pos: usize, what: &str) -> ScimError {
        self.err(format!("{what} at position {pos}"))
    }

    /// "expected X at position N, found Y" for the token `sp`.
    fn unexpected(&self, sp: &Spanned<'_>, expected: &str) -> ScimError {
        let raw = self.src.get(sp.start..sp.end).unwrap_or("");
        self.err(format!(
            "expected {expected} at position {}, found {}",
            sp.start,
            describe(&sp.tok, raw)
        ))
    }

    /// Offset of the first non-whitespace character at or after `pos`.
    fn skip_ws(&self, pos: usize) -> usize {
        let rest = self.src.get(pos..).unwrap_or("");
        match rest.char_indices().find(|(_, c)| !c.is_whitespace()) {
            Some((i, _)) => pos + i,
            None => self.src.len(),
        }
    }

    /// Lexes the token starting at (or after whitespace following) `pos`.
    fn lex_at(&self, pos: usize) -> Result<Spanned<'a>, ScimError> {
        let src: &'a str = self.src;
        let start = self.skip_ws(pos);
        let rest = src.get(start..).unwrap_or("");
        let Some(first) = rest.chars().next() else {
            return Ok(Spanned {
                tok: Tok::End,
                start,
                end: start,
            });
        };
        let single = |tok| {
            Ok(Spanned {
                tok,
                start,
                end: start + 1,
            })
        };
        match first {
            '(' => single(Tok::LParen),
            ')' => single(Tok::RParen),
            '[' => single(Tok::LBracket),
            ']' => single(Tok::RBracket),
            '"' => self.lex_string(start),
            _ => {
                let len = rest
                    .char_indices()
                    .find(|&(_, c)| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"'))
                    .map_or(rest.len(), |(i, _)| i);
                let word = rest.get(..len).unwrap_or("");
                Ok(Spanned {
                    tok: Tok::Word(word),
                    start,
                    end: start + len,
                })
            }
        }
    }

    /// A JSON string literal starting at the `"` at `start`. The closing quote is found by
    /// byte scan (bytes of multi-byte characters never equal `"` or `\`), then the literal
    /// is decoded by serde_json so escapes follow JSON exactly.
    fn lex_string(&self, start: usize) -> Result<Spanned<'a>, ScimError> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        while let Some(&byte) = bytes.get(i) {
            match byte {
                b'\\' => i += 2,
                b'"' => {
                    let raw = self.src.get(start..=i).unwrap_or("");
                    return match serde_json::from_str::<String>(raw) {
                        Ok(s) => Ok(Spanned { tok: Tok::Str(s), start, end: i + 1 }),
                        Err(e) => Err(self.err(format!(
                            "invalid string literal at position {start}: {} (column {} of the literal)",
                            excerpt(raw),
                            e.column()
                        ))),
                    };
                }
                _ => i += 1,
            }
        }
        Err(self.err_at(start, "unterminated string literal (missing closing '\"')"))
    }

    fn peek(&self) -> Result<Spanned<'a>, ScimError> {
        self.lex_at(self.pos)
    }

    fn bump(&mut self, sp: &Spanned<'_>) {
        self.pos = sp.end;
    }

    fn expect_end(&self) -> Result<(), ScimError> {
        let sp = self.peek()?;
        match sp.tok {
            Tok::End => Ok(()),
            _ => Err(self.unexpected(&sp, "'and', 'or' or end of filter")),
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err_at(
                at,
                &format!("filter nested deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn expect_close(&mut self, close: Tok<'static>, opened_at: usize) -> Result<(), ScimError> {
        let sp = self.peek()?;
        if sp.tok == close {
            self.bump(&sp);
            self.depth -= 1;
            return Ok(());
        }
        let (c, o) = if close == Tok::RParen {
            ("')'", "'('")
        } else {
            ("']'", "'['")
        };
        Err(self.unexpected(
            &sp,
            &format!("'and', 'or' or {c} closing the {o} at position {opened_at}"),
        ))
    }

    /// `or_expr := and_expr ("or" and_expr)*` — iterative, left-associative.
    fn or_expr(&mut self, in_vp: bool) -> Result<Filter, ScimError> {
        self.chain(in_vp, "or", Self::and_expr, Filter::Or)
    }

    /// `and_expr := unary ("and" unary)*` — iterative, left-associative.
    fn and_expr(&mut self, in_vp: bool) -> Result<Filter, ScimError> {
        self.chain(in_vp, "and", Self::unary, Filter::And)
    }

    /// `operand (word operand)*`, folded to the left with `join`.
    fn chain(
        &mut self,
        in_vp: bool,
        word: &str,
        operand: fn(&mut Self, bool) -> Result<Filter, ScimError>,
        join: fn(Box<Filter>, Box<Filter>) -> Filter,
    ) -> Result<Filter, ScimError> {
        let mut left = operand(self, in_vp)?;
        loop {
            let sp = self.peek()?;
            match sp.tok {
                Tok::Word(w) if w.eq_ignore_ascii_case(word) => {
                    self.bump(&sp);
                    let right = operand(self, in_vp)?;
                    left = join(Box::new(left), Box::new(right));
                }
                _ => return Ok(left),
            }
        }
    }

    /// `unary := "not" "(" or_expr ")" | "(" or_expr ")" | attr_expr`.
    fn unary(&mut self, in_vp: bool) -> Result<Filter, ScimError> {
        let sp = self.peek()?;
        match sp.tok {
            Tok::LParen => {
                self.bump(&sp);
                self.enter(sp.start)?;
                let inner = self.or_expr(in_vp)?;
                self.expect_close(Tok::RParen, sp.start)?;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                let next = self.lex_at(sp.end)?;
                match &next.tok {
                    Tok::LParen => {
                        self.bump(&next);
                        self.enter(next.start)?;
                        let inner = self.or_expr(in_vp)?;
                        self.expect_close(Tok::RParen, next.start)?;
                        Ok(Filter::Not(Box::new(inner)))
                    }
                    // `not eq "x"` / `not pr` / `not[..]`: an attribute that happens to be
                    // called "not".
                    Tok::Word(op)
                        if op.eq_ignore_ascii_case("pr")
                            || CompareOp::from_keyword(op).is_some() =>
                    {
                        self.attr_expr(in_vp)
                    }
                    Tok::LBracket => self.attr_expr(in_vp),
                    _ => Err(self.unexpected(&next, "'(' after 'not'")),
                }
            }
            Tok::Word(_) => self.attr_expr(in_vp),
            _ => Err(self.unexpected(&sp, "attribute name, 'not' or '('")),
        }
    }

    fn count_term(&mut self, at: usize) -> Result<(), ScimError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.err_at(at, &format!("filter has more than {MAX_TERMS} expressions")));
        }
        Ok(())
    }

    /// `attrPath pr | attrPath op value | attrPath "[" valFilter "]" ["." subAttr (op value | pr)]`.
    fn attr_expr(&mut self, in_vp: bool) -> Result<Filter, ScimError> {
        let sp = self.peek()?;
        let Tok::Word(word) = sp.tok else {
            return Err(self.unexpected(&sp, "attribute name"));
        };
        let path = self.path_word(word, sp.start)?;
        self.bump(&sp);
        if in_vp && (path.schema.is_some() || path.sub_attr.is_some()) {
            return Err(self.err(format!(
                "inside '[...]' only plain sub-attribute names are allowed, found '{}' at position {}",
                excerpt(word),
                sp.start
            )));
        }
        let next = self.peek()?;
        if next.tok != Tok::LBracket {
            return self.operation(path, sp.start);
        }
        if in_vp {
            return Err(self.err_at(next.start, "nested '[' (value filters cannot be nested)"));
        }
        if path.sub_attr.is_some() {
            return Err(self.err_at(
                next.start,
                "'[' after a sub-attribute (a value filter follows the attribute, e.g. emails[type eq \"work\"])",
            ));
        }
        let (inner, sub) = self.bracket_tail(next.start)?;
        let filter = match sub {
            None => inner,
            // Entra's `emails[type eq "work"].value eq "x"` (see module docs).
            Some((name, at)) => {
                let sub_path = AttrPath {
                    schema: None,
                    attr: name,
                    sub_attr: None,
                };
                let op = self.operation(sub_path, at)?;
                Filter::And(Box::new(inner), Box::new(op))
            }
        };
        Ok(Filter::ValuePath {
            attr: path,
            filter: Box::new(filter),
        })
    }

    /// Parses `[valFilter]` (the `[` is at `open`) and an optional `.subAttr` directly after
    /// the `]`, returning the sub-attribute name and its position.
    fn bracket_tail(&mut self, open: usize) -> Result<(Filter, Option<SubAttr>), ScimError> {
        self.pos = open + 1;
        self.enter(open)?;
        let inner = self.or_expr(true)?;
        self.expect_close(Tok::RBracket, open)?;
        // Only a `.` immediately after `]` continues the path.
        if self.src.as_bytes().get(self.pos) != Some(&b'.') {
            return Ok((inner, None));
        }
        let sp = self.peek()?;
        let Tok::Word(word) = sp.tok else {
            return Ok((inner, None));
        };
        let name = word.get(1..).unwrap_or("");
        if !valid_name(name) {
            return Err(self.err(format!(
                "invalid sub-attribute name '{}' at position {}",
                excerpt(word),
                sp.start + 1
            )));
        }
        self.bump(&sp);
        Ok((inner, Some((name.to_string(), sp.start + 1))))
    }

    /// After an attribute path: `pr` or `op value`. `at` is the path's position, for errors.
    fn operation(&mut self, path: AttrPath, at: usize) -> Result<Filter, ScimError> {
        self.count_term(at)?;
        let sp = self.peek()?;
        let op = match sp.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => {
                self.bump(&sp);
                return Ok(Filter::Present(path));
            }
            Tok::Word(w) => CompareOp::from_keyword(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.unexpected(
                &sp,
                &format!(
                    "operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after '{}'",
                    excerpt(&path.to_string())
                ),
            ));
        };
        self.bump(&sp);
        let value = self.value()?;
        Ok(Filter::Compare { path, op, value })
    }

    /// `compValue = false / null / true / number / string`.
    fn value(&mut self) -> Result<CompValue, ScimError> {
        let sp = self.peek()?;
        const EXPECTED: &str = "value (quoted string, number, true, false or null)";
        let value = match &sp.tok {
            Tok::Str(s) => CompValue::String(s.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            Tok::Word(w) if w.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                match parse_number(w) {
                    Some(n) => CompValue::Number(n),
                    None => {
                        return Err(self.err(format!(
                            "invalid number '{}' at position {}",
                            excerpt(w),
                            sp.start
                        )))
                    }
                }
            }
            _ => return Err(self.unexpected(&sp, EXPECTED)),
        };
        self.bump(&sp);
        Ok(value)
    }

    /// Splits `[URN:]attr[.sub]` at the last `:` and the `.`s after it, validating names.
    fn path_word(&self, word: &str, at: usize) -> Result<AttrPath, ScimError> {
        let (schema, rest, rest_at) = match word.rfind(':') {
            Some(i) => {
                let schema = word.get(..i).unwrap_or("");
                if !schema.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(self.err(format!(
                        "invalid schema URN '{}' at position {at}",
                        excerpt(word)
                    )));
                }
                (
                    Some(schema.to_string()),
                    word.get(i + 1..).unwrap_or(""),
                    at + i + 1,
                )
            }
            None => (None, word, at),
        };
        let mut parts = rest.splitn(3, '.');
        let attr = parts.next().unwrap_or("");
        let sub = parts.next();
        if parts.next().is_some() {
            return Err(self.err(format!(
                "attribute path '{}' at position {at} has more than one '.' (only attr.subAttr is allowed)",
                excerpt(word)
            )));
        }
        if !valid_name(attr) {
            return Err(self.err(format!(
                "expected attribute name at position {rest_at}, found '{}'",
                excerpt(word.get(rest_at - at..).unwrap_or(word))
            )));
        }
        if let Some(sub) = sub {
            if !valid_name(sub) {
                return Err(self.err(format!(
                    "invalid sub-attribute name '{}' at position {}",
                    excerpt(sub),
                    rest_at + attr.len() + 1
                )));
            }
        }
        Ok(AttrPath {
            schema,
            attr: attr.to_string(),
            sub_attr: sub.map(str::to_string),
        })
    }
}

/// A JSON number (`-? int frac? exp?`). Integers that fit stay integers; everything else
/// goes through `f64::from_str`, which — unlike serde_json's default fast path — rounds
/// correctly, so the canonical form of any float re-parses to the same value.
pub(super) fn parse_number(text: &str) -> Option<serde_json::Number> {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let int_start = i;
    if !digits(&mut i) || (b.get(int_start) == Some(&b'0') && i - int_start > 1) {
        return None;
    }
    let mut integral = true;
    if b.get(i) == Some(&b'.') {
        i += 1;
        integral = false;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        integral = false;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if integral {
        if let Ok(u) = text.parse::<u64>() {
            return Some(u.into());
        }
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
}

pub(super) fn filter(input: &str) -> Result<Filter, ScimError> {
    let mut p = Parser::new(input, Flavor::Filter);
    if let Tok::End = p.peek()?.tok {
        return Err(p.err_at(0, "empty filter"));
    }
    let f = p.or_expr(false)?;
    p.expect_end()?;
    Ok(f)
}

/// A single word that must be a whole attribute path.
fn path_only(p: &mut Parser<'_>) -> Result<AttrPath, ScimError> {
    let sp = p.peek()?;
    let Tok::Word(word) = sp.tok else {
        return Err(p.unexpected(&sp, "attribute path"));
    };
    let path = p.path_word(word, sp.start)?;
    p.bump(&sp);
    Ok(path)
}

pub(super) fn attr_path(input: &str) -> Result<AttrPath, ScimError> {
    let mut p = Parser::new(input, Flavor::Path);
    let path = path_only(&mut p)?;
    let sp = p.peek()?;
    if sp.tok != Tok::End {
        return Err(p.unexpected(&sp, "end of attribute path"));
    }
    Ok(path)
}

pub(super) fn patch_path(input: &str) -> Result<PatchPath, ScimError> {
    let mut p = Parser::new(input, Flavor::Path);
    let attr = path_only(&mut p)?;
    let sp = p.peek()?;
    let (filter, sub_attr) = match sp.tok {
        Tok::End => (None, None),
        Tok::LBracket if attr.sub_attr.is_none() => {
            let (inner, sub) = p.bracket_tail(sp.start)?;
            (Some(inner), sub.map(|(name, _)| name))
        }
        _ => return Err(p.unexpected(&sp, "'[' or end of path")),
    };
    let sp = p.peek()?;
    if sp.tok != Tok::End {
        return Err(p.unexpected(&sp, "end of path"));
    }
    Ok(PatchPath {
        attr,
        filter,
        sub_attr,
    })
}
