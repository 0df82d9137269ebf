//! Unit tests of the judge prompt builder and the tolerant reply parser.

use super::*;

fn config() -> JudgeConfig {
    JudgeConfig {
        model: "judge-model".to_string(),
        ..JudgeConfig::default()
    }
}

fn sample() -> JudgeSample<'static> {
    JudgeSample {
        input: r#"[{"role":"user","content":"How do I reset my password?"}]"#,
        output: "Click 'Forgot password' on the login page.",
        reference: Some("Use the 'Forgot password' link."),
    }
}

#[test]
fn prompt_version_matches_the_prompt_texts() {
    assert_eq!(compute_prompt_version(), PROMPT_VERSION);
}

#[test]
fn templates_substitute_known_variables_and_reject_unknown_ones() {
    let rendered = render_template(
        "Q: {{ input }} / A: {{output}} / R: {{reference}}",
        &sample(),
    )
    .unwrap();
    assert_eq!(
        rendered,
        "Q: user: How do I reset my password? / A: Click 'Forgot password' on the login page. \
         / R: Use the 'Forgot password' link."
    );
    let err = render_template("{{outptu}} is polite", &sample()).unwrap_err();
    assert_eq!(err.name, "outptu");
    assert!(err.to_string().contains("{{outptu}}"), "{err}");
    assert_eq!(
        template_variables("a {{input}} b {{ x }}"),
        vec!["input", "x"]
    );
}

#[test]
fn rubric_request_has_temperature_seed_cap_and_a_json_schema() {
    let body = rubric_request(&config(), "Is it polite?", &sample()).unwrap();
    assert_eq!(body["model"], "judge-model");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["seed"], 42);
    assert_eq!(body["max_completion_tokens"], 400);
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Is it polite?"));
    assert!(user.contains("Forgot password' on the login page"));
    assert!(user.contains("<reference>"));
}

#[test]
fn without_structured_output_the_request_has_no_response_format_but_still_asks_for_json() {
    let plain = JudgeConfig {
        structured_output: false,
        max_tokens_field: crate::config::MaxTokensField::MaxTokens,
        ..config()
    };
    let body = rubric_request(&plain, "Is it polite?", &sample()).unwrap();
    assert!(body.get("response_format").is_none());
    assert_eq!(body["max_tokens"], 400);
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("JSON")
    );
}

#[test]
fn pairwise_requests_swap_the_answers_and_need_a_reference() {
    let first = pairwise_request(&config(), "helpfulness", &sample(), PairOrder::OutputFirst)
        .unwrap()
        .unwrap();
    let second = pairwise_request(
        &config(),
        "helpfulness",
        &sample(),
        PairOrder::ReferenceFirst,
    )
    .unwrap()
    .unwrap();
    let user_first = first["messages"][1]["content"].as_str().unwrap();
    let user_second = second["messages"][1]["content"].as_str().unwrap();
    let a_first = user_first.split("<response_a>").nth(1).unwrap();
    let a_second = user_second.split("<response_a>").nth(1).unwrap();
    assert!(a_first.trim_start().starts_with("Click"));
    assert!(a_second.trim_start().starts_with("Use the"));
    let no_reference = JudgeSample {
        reference: None,
        ..sample()
    };
    let none = pairwise_request(&config(), "x", &no_reference, PairOrder::OutputFirst).unwrap();
    assert!(none.is_none());
}

#[test]
fn an_explicit_pass_passes_and_an_explicit_fail_fails() {
    let pass = parse_rubric_reply(r#"{"pass": true, "score": 0.9, "reason": "polite"}"#, None);
    assert_eq!(pass.outcome, Outcome::Pass);
    assert_eq!(pass.score, Some(0.9));
    assert_eq!(pass.reason, "polite");
    let fail = parse_rubric_reply(r#"{"pass": false, "score": 0.2, "reason": "rude"}"#, None);
    assert_eq!(fail.outcome, Outcome::Fail);
}

#[test]
fn a_reply_without_pass_or_threshold_is_never_a_pass() {
    let verdict = parse_rubric_reply(r#"{"score": 0.95, "reason": "fine"}"#, None);
    assert_eq!(verdict.outcome, Outcome::Unscorable);
    let empty = parse_rubric_reply(r#"{"reason": "fine", "pass": null}"#, Some(0.5));
    assert_eq!(empty.outcome, Outcome::Unscorable);
    assert!(
        empty.reason.starts_with("unparseable judge reply"),
        "{}",
        empty.reason
    );
}

#[test]
fn a_threshold_decides_on_the_score_but_an_explicit_fail_still_fails() {
    let above = parse_rubric_reply(r#"{"score": 0.8}"#, Some(0.7));
    assert_eq!(above.outcome, Outcome::Pass);
    let below = parse_rubric_reply(r#"{"pass": true, "score": 0.6}"#, Some(0.7));
    assert_eq!(below.outcome, Outcome::Fail);
    let vetoed = parse_rubric_reply(r#"{"pass": false, "score": 0.9}"#, Some(0.7));
    assert_eq!(vetoed.outcome, Outcome::Fail);
}

#[test]
fn json_inside_prose_and_code_fences_is_found() {
    let prose = "Sure! Here is my grade: {\"pass\": true, \"score\": 1, \"reason\": \"ok {fine}\"} \
                 Hope that helps.";
    assert_eq!(parse_rubric_reply(prose, None).outcome, Outcome::Pass);
    let fenced = "```json\n{\n  \"pass\": \"false\",\n  \"score\": \"0.1\"\n}\n```";
    let verdict = parse_rubric_reply(fenced, None);
    assert_eq!(verdict.outcome, Outcome::Fail);
    assert_eq!(verdict.score, Some(0.1));
    let decoy = "Using {braces} and {\"other\": 1} before {\"verdict\": \"pass\"}";
    assert_eq!(parse_rubric_reply(decoy, None).outcome, Outcome::Pass);
}

#[test]
fn a_reply_that_is_not_json_is_unscorable_with_an_excerpt() {
    let verdict = parse_rubric_reply("I think it passes.\nDefinitely.", Some(0.5));
    assert_eq!(verdict.outcome, Outcome::Unscorable);
    assert!(
        verdict.reason.starts_with("unparseable judge reply: "),
        "{}",
        verdict.reason
    );
    assert!(
        verdict.reason.contains("I think it passes"),
        "{}",
        verdict.reason
    );
}

#[test]
fn scores_outside_zero_to_one_are_ignored_not_clamped() {
    let verdict = parse_rubric_reply(r#"{"score": 8, "reason": "out of 10"}"#, Some(0.5));
    assert_eq!(verdict.outcome, Outcome::Unscorable);
    assert_eq!(verdict.score, None);
}

#[test]
fn pairwise_winners_map_back_to_output_or_reference() {
    let a = r#"{"winner": "A", "reason": "clearer"}"#;
    let b = r#"{"winner": "b"}"#;
    assert_eq!(
        parse_pairwise_reply(a, PairOrder::OutputFirst).unwrap().0,
        PairWinner::Output
    );
    assert_eq!(
        parse_pairwise_reply(a, PairOrder::ReferenceFirst)
            .unwrap()
            .0,
        PairWinner::Reference
    );
    assert_eq!(
        parse_pairwise_reply(b, PairOrder::ReferenceFirst)
            .unwrap()
            .0,
        PairWinner::Output
    );
    let tie = parse_pairwise_reply(r#"{"winner": "tie"}"#, PairOrder::OutputFirst).unwrap();
    assert_eq!(tie.0, PairWinner::Tie);
    let bad = parse_pairwise_reply(r#"{"winner": "C"}"#, PairOrder::OutputFirst).unwrap_err();
    assert_eq!(bad.outcome, Outcome::Unscorable);
}

#[test]
fn a_pairwise_verdict_that_flips_under_the_swap_is_a_tie() {
    // The judge always prefers position A: output first says output, reference first says
    // reference. That is position bias, not a preference.
    let verdict = combine_pairwise(PairWinner::Output, PairWinner::Reference, None, "");
    assert_eq!(verdict.score, Some(0.5));
    assert!(
        verdict.reason.starts_with("tie: the verdict flipped"),
        "{}",
        verdict.reason
    );
    assert_eq!(verdict.outcome, Outcome::Pass);
    let strict = combine_pairwise(PairWinner::Output, PairWinner::Reference, Some(1.0), "");
    assert_eq!(strict.outcome, Outcome::Fail);
    let win = combine_pairwise(PairWinner::Output, PairWinner::Output, Some(1.0), "better");
    assert_eq!(win.outcome, Outcome::Pass);
    assert_eq!(win.reason, "output in both orders: better");
    let loss = combine_pairwise(PairWinner::Reference, PairWinner::Reference, None, "");
    assert_eq!(loss.outcome, Outcome::Fail);
    assert_eq!(loss.score, Some(0.0));
}

#[test]
fn the_cache_key_depends_on_every_part_and_tells_a_missing_reference_from_an_empty_one() {
    let base = judgment_cache_key("v1", &sample());
    assert_eq!(base.len(), 32);
    assert_eq!(base, judgment_cache_key("v1", &sample()));
    assert_ne!(base, judgment_cache_key("v2", &sample()));
    let other_output = JudgeSample {
        output: "other",
        ..sample()
    };
    assert_ne!(base, judgment_cache_key("v1", &other_output));
    let empty = JudgeSample {
        reference: Some(""),
        ..sample()
    };
    let missing = JudgeSample {
        reference: None,
        ..sample()
    };
    assert_ne!(
        judgment_cache_key("v1", &empty),
        judgment_cache_key("v1", &missing)
    );
}
