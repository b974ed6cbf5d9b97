//! Route templates: the bounded set of values the `route` label can take. A request's path is
//! matched against the configured templates in order; a path none matches is `other`, so the
//! label's cardinality is the number of templates plus one, whatever the traffic.
//!
//! A template is a path whose segments are literals, `{name}` (any one non-empty segment) or,
//! as the last segment only, `*` (any rest, including nothing): `/orders/{id}`,
//! `/orders/{id}/items`, `/static/*`.

/// The label of a path no template matches.
pub const OTHER: &str = "other";

/// The most templates a sidecar takes: the `route` label's hard cap (× methods × status
/// classes for the per-request series).
pub const MAX_ROUTES: usize = 100;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Parameter,
}

#[derive(Debug, Clone)]
struct Template {
    label: &'static str,
    segments: Vec<Segment>,
    /// Ends in `*`: any rest matches.
    rest: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Routes {
    templates: Vec<Template>,
}

impl Routes {
    /// Parses the templates; the error names the template and what was expected.
    pub fn parse(templates: &[String]) -> Result<Self, String> {
        if templates.len() > MAX_ROUTES {
            return Err(format!(
                "{} route templates: at most {MAX_ROUTES} (each is a value of the `route` label)",
                templates.len()
            ));
        }
        let mut parsed: Vec<Template> = Vec::with_capacity(templates.len());
        for text in templates {
            let text = text.trim();
            let template = parse_one(text).map_err(|why| format!("route template `{text}`: {why}"))?;
            if parsed.iter().any(|t| t.label == text) {
                return Err(format!("route template `{text}` is given twice"));
            }
            parsed.push(template);
        }
        Ok(Routes { templates: parsed })
    }

    /// The index in [`Routes::labels`] of `path` (no query): the first template that matches,
    /// else [`OTHER`] (the last).
    pub fn route(&self, path: &str) -> usize {
        let trimmed = if path.len() > 1 {
            path.strip_suffix('/').unwrap_or(path)
        } else {
            path
        };
        let segments = trimmed.strip_prefix('/').unwrap_or(trimmed);
        'templates: for (index, template) in self.templates.iter().enumerate() {
            let mut parts = (!segments.is_empty())
                .then(|| segments.split('/'))
                .into_iter()
                .flatten();
            for segment in &template.segments {
                match (segment, parts.next()) {
                    (Segment::Literal(literal), Some(part)) if part == literal => {}
                    (Segment::Parameter, Some(part)) if !part.is_empty() => {}
                    _ => continue 'templates,
                }
            }
            if template.rest || parts.next().is_none() {
                return index;
            }
        }
        self.templates.len()
    }

    /// Every label value a request can get, in order, [`OTHER`] last.
    pub fn labels(&self) -> Vec<&'static str> {
        self.templates.iter().map(|t| t.label).chain([OTHER]).collect()
    }
}

fn parse_one(text: &str) -> Result<Template, String> {
    let Some(body) = text.strip_prefix('/') else {
        return Err("must start with `/`".into());
    };
    if text == OTHER {
        return Err(format!("`{OTHER}` is the label of unmatched paths"));
    }
    if text.contains(['?', '#', ' ', '"', '\\']) {
        return Err("a path only (no query, fragment, space, quote or backslash)".into());
    }
    let mut segments = Vec::new();
    let mut rest = false;
    let parts: Vec<&str> = if body.is_empty() {
        Vec::new()
    } else {
        body.split('/').collect()
    };
    for (i, part) in parts.iter().enumerate() {
        if rest {
            return Err("`*` must be the last segment".into());
        }
        if *part == "*" {
            rest = true;
            if i + 1 != parts.len() {
                return Err("`*` must be the last segment".into());
            }
        } else if part.starts_with('{') && part.ends_with('}') && part.len() > 2 {
            segments.push(Segment::Parameter);
        } else if part.is_empty() {
            return Err("an empty segment (`//` or a trailing `/`)".into());
        } else if part.contains(['{', '}', '*']) {
            return Err(format!("segment `{part}`: `{{name}}` and `*` must be whole segments"));
        } else {
            segments.push(Segment::Literal(part.to_string()));
        }
    }
    Ok(Template {
        // Leaked once per template at start-up: a bounded set of label values that live as long
        // as the program.
        label: Box::leak(text.to_string().into_boxed_str()),
        segments,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(templates: &[&str]) -> Routes {
        Routes::parse(&templates.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn paths_match_the_first_template_else_other() {
        let routes = routes(&["/", "/orders/{id}", "/orders/{id}/items", "/static/*", "/orders/new"]);
        struct Labelled(Routes);
        impl Labelled {
            fn route(&self, path: &str) -> &'static str {
                self.0.labels()[self.0.route(path)]
            }
            fn labels(&self) -> Vec<&'static str> {
                self.0.labels()
            }
        }
        let r = Labelled(routes);
        assert_eq!(r.route("/"), "/");
        assert_eq!(r.route("/orders/42"), "/orders/{id}");
        assert_eq!(r.route("/orders/42/"), "/orders/{id}");
        assert_eq!(r.route("/orders/42/items"), "/orders/{id}/items");
        // First match wins: `/orders/new` is listed after `/orders/{id}`.
        assert_eq!(r.route("/orders/new"), "/orders/{id}");
        assert_eq!(r.route("/orders"), OTHER);
        assert_eq!(r.route("/orders//items"), OTHER);
        assert_eq!(r.route("/orders/42/items/7"), OTHER);
        assert_eq!(r.route("/static"), "/static/*");
        assert_eq!(r.route("/static/css/site.css"), "/static/*");
        assert_eq!(r.route("/elsewhere"), OTHER);
        assert_eq!(r.labels().len(), 6);
        let none = Routes::default();
        assert_eq!(none.labels()[none.route("/anything")], OTHER);
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        let err = |t: &str| Routes::parse(&[t.to_string()]).unwrap_err();
        assert!(err("orders").contains("must start with `/`"));
        assert!(err("/a/*/b").contains("last segment"));
        assert!(err("/a//b").contains("empty segment"));
        assert!(err("/a/x{id}").contains("whole segments"));
        assert!(err("/a?b=1").contains("no query"));
        let twice = Routes::parse(&["/a".into(), "/a".into()]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let many: Vec<String> = (0..=MAX_ROUTES).map(|i| format!("/r{i}")).collect();
        assert!(Routes::parse(&many).unwrap_err().contains("at most 100"));
    }
}
