//! Path templates of `google.api.http` rules, parsed and matched as
//! `google/api/http.proto` defines them:
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: exactly one non-empty segment.
    One,
    /// `**`: the rest of the path, zero or more segments.
    Rest,
}

/// A variable binds the segments `start..end` of the template to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The field path as written, e.g. `policy.id`.
    pub field_path: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
    pub variables: Vec<Variable>,
    /// The custom verb after the last segment (`accept` in `/v1/cases/{id}:accept`).
    pub verb: Option<String>,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn error(&self, what: &str) -> String {
        format!("path template {:?}: {what} at {}", self.text, self.pos)
    }

    fn segments(
        &mut self,
        segments: &mut Vec<Segment>,
        variables: &mut Vec<Variable>,
        in_variable: bool,
    ) -> Result<(), String> {
        loop {
            self.segment(segments, variables, in_variable)?;
            if !self.eat('/') {
                return Ok(());
            }
        }
    }

    fn segment(
        &mut self,
        segments: &mut Vec<Segment>,
        variables: &mut Vec<Variable>,
        in_variable: bool,
    ) -> Result<(), String> {
        if self.eat('*') {
            segments.push(if self.eat('*') {
                Segment::Rest
            } else {
                Segment::One
            });
            return Ok(());
        }
        if self.eat('{') {
            if in_variable {
                return Err(self.error("a variable inside a variable"));
            }
            let field_path = self
                .take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                .to_owned();
            if field_path.is_empty() || field_path.split('.').any(str::is_empty) {
                return Err(self.error("a variable without a field path"));
            }
            let start = segments.len();
            if self.eat('=') {
                self.segments(segments, variables, true)?;
            } else {
                segments.push(Segment::One);
            }
            if !self.eat('}') {
                return Err(self.error("an unclosed variable"));
            }
            variables.push(Variable {
                field_path,
                start,
                end: segments.len(),
            });
            return Ok(());
        }
        let literal = self.take_while(|c| !matches!(c, '/' | ':' | '{' | '}' | '*'));
        if literal.is_empty() {
            return Err(self.error("an empty segment"));
        }
        segments.push(Segment::Literal(literal.to_owned()));
        Ok(())
    }
}

impl PathTemplate {
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        let mut parser = Parser { text, pos: 0 };
        if !parser.eat('/') {
            return Err(parser.error("no leading '/'"));
        }
        let mut segments = Vec::new();
        let mut variables = Vec::new();
        parser.segments(&mut segments, &mut variables, false)?;
        let verb = if parser.eat(':') {
            let verb = parser.take_while(|c| c != '/').to_owned();
            if verb.is_empty() {
                return Err(parser.error("an empty verb"));
            }
            Some(verb)
        } else {
            None
        };
        if parser.pos != text.len() {
            return Err(parser.error("unexpected text"));
        }
        let rests = segments.iter().filter(|s| **s == Segment::Rest).count();
        if rests > 1 || (rests == 1 && segments.last() != Some(&Segment::Rest)) {
            return Err(parser.error("'**' only as the last segment"));
        }
        Ok(PathTemplate {
            segments,
            variables,
            verb,
        })
    }

    /// How specific the template is, for trying the most specific first.
    pub fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// The last literal segment, for naming downloads.
    pub fn last_literal(&self) -> Option<&str> {
        self.segments.iter().rev().find_map(|s| match s {
            Segment::Literal(l) => Some(l.as_str()),
            _ => None,
        })
    }

    /// Matches a request path (still percent-encoded) and returns each
    /// variable's field path with its decoded value.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let mut rest = path.strip_prefix('/')?;
        if let Some(verb) = &self.verb {
            rest = rest.strip_suffix(verb.as_str())?.strip_suffix(':')?;
        }
        let raw: Vec<&str> = rest.split('/').collect();
        let n = self.segments.len();
        let has_rest = self.segments.last() == Some(&Segment::Rest);
        // The raw segments each template segment covers.
        let span = |i: usize| -> (usize, usize) {
            if has_rest && i == n - 1 {
                (i, raw.len())
            } else {
                (i, i + 1)
            }
        };
        if has_rest {
            if raw.len() < n - 1 {
                return None;
            }
        } else if raw.len() != n {
            return None;
        }
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) if raw[i] != literal => return None,
                Segment::One if raw[i].is_empty() => return None,
                _ => {}
            }
        }
        let mut bound = Vec::with_capacity(self.variables.len());
        for variable in &self.variables {
            let from = span(variable.start).0;
            let to = span(variable.end - 1).1;
            let joined = raw[from..to.max(from)].join("/");
            let value = percent_decode_str(&joined).decode_utf8().ok()?.into_owned();
            bound.push((variable.field_path.clone(), value));
        }
        Some(bound)
    }

    /// The template as an OpenAPI path: `/v1/cases/{id}:accept`.
    pub fn openapi_path(&self) -> String {
        let names: Vec<&str> = self
            .variables
            .iter()
            .map(|v| v.field_path.as_str())
            .collect();
        self.openapi_path_named(&names)
    }

    /// The template with its variables left unnamed (`/v1/policies/{}`): two
    /// templates of one shape match the same requests.
    pub fn shape(&self) -> String {
        self.openapi_path_named(&vec![""; self.variables.len()])
    }

    /// The template as an OpenAPI path, the variables named by `names` in order.
    pub fn openapi_path_named(&self, names: &[&str]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.segments.len() {
            out.push('/');
            if let Some((index, variable)) = self
                .variables
                .iter()
                .enumerate()
                .find(|(_, v)| v.start == i)
            {
                out.push('{');
                out.push_str(names.get(index).copied().unwrap_or(&variable.field_path));
                out.push('}');
                i = variable.end.max(i + 1);
                continue;
            }
            match &self.segments[i] {
                Segment::Literal(literal) => out.push_str(literal),
                Segment::One => out.push('*'),
                Segment::Rest => out.push_str("**"),
            }
            i += 1;
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        PathTemplate::parse(template).unwrap().matches(path)
    }

    fn pair(field: &str, value: &str) -> (String, String) {
        (field.to_owned(), value.to_owned())
    }

    #[test]
    fn literal_paths_match_only_themselves() {
        assert_eq!(bound("/v1/appeals", "/v1/appeals"), Some(vec![]));
        assert_eq!(bound("/v1/appeals", "/v1/appeals/x"), None);
        assert_eq!(bound("/v1/appeals", "/v1/cases"), None);
    }

    #[test]
    fn a_variable_binds_one_decoded_segment() {
        assert_eq!(
            bound("/v1/appeals/{id}", "/v1/appeals/510821-01J%20X"),
            Some(vec![pair("id", "510821-01J X")])
        );
        assert_eq!(bound("/v1/appeals/{id}", "/v1/appeals/"), None);
        assert_eq!(bound("/v1/appeals/{id}", "/v1/appeals/a/b"), None);
    }

    #[test]
    fn a_verb_follows_the_last_variable() {
        let template = PathTemplate::parse("/v1/cases/{id}:accept").unwrap();
        assert_eq!(template.verb.as_deref(), Some("accept"));
        assert_eq!(
            template.matches("/v1/cases/510821-7:accept"),
            Some(vec![pair("id", "510821-7")])
        );
        assert_eq!(template.matches("/v1/cases/510821-7:reject"), None);
        assert_eq!(template.matches("/v1/cases/510821-7"), None);
        assert_eq!(
            bound("/v1/ledger:export", "/v1/ledger:export"),
            Some(vec![])
        );
    }

    #[test]
    fn nested_field_paths_and_sub_templates_bind() {
        assert_eq!(
            bound("/v1/policies/{policy.id}", "/v1/policies/p1"),
            Some(vec![pair("policy.id", "p1")])
        );
        let template = PathTemplate::parse("/v1/{name=shelves/*/books/**}:get").unwrap();
        assert_eq!(
            template.matches("/v1/shelves/s1/books/a/b:get"),
            Some(vec![pair("name", "shelves/s1/books/a/b")])
        );
        assert_eq!(template.openapi_path(), "/v1/{name}:get");
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in ["v1/x", "/v1/{id", "/v1/{}", "/v1/**/x", "/v1//x", "/v1/x:"] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn openapi_paths_keep_the_variables_and_the_verb() {
        let template =
            PathTemplate::parse("/v1/enterprises/{uscc}/credit/suspensions/{id}:decide").unwrap();
        assert_eq!(
            template.openapi_path(),
            "/v1/enterprises/{uscc}/credit/suspensions/{id}:decide"
        );
        assert_eq!(
            template.shape(),
            "/v1/enterprises/{}/credit/suspensions/{}:decide"
        );
        let nested = PathTemplate::parse("/v1/policies/{policy.id}").unwrap();
        assert_eq!(nested.openapi_path_named(&["id"]), "/v1/policies/{id}");
    }
}
