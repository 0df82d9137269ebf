use super::*;

fn late(seen: SeenIds) -> Vec<LateRepeat> {
    let mut found = Vec::new();
    seen.finish(|repeat| found.push(repeat)).unwrap();
    found
}

fn keep(seen: &mut SeenIds, id: &str, content: u64, line: usize, outcome: Outcome) -> Seen {
    let hash = id_hash(id);
    let seen_as = seen.check(hash, content, line, id);
    if seen_as == Seen::First {
        seen.scored(hash, outcome);
    }
    seen_as
}

#[test]
fn the_same_id_is_a_duplicate_with_the_same_content_and_a_conflict_otherwise() {
    let mut seen = SeenIds::with_table(TABLE_IDS);
    let yes = crate::evaluators::rules::test_request("yes");
    let mut no = yes.clone();
    no.output = "no".to_string();
    let id = id_hash(&yes.request_id);
    assert_eq!(seen.check(id, content_hash(&yes), 1, "r1"), Seen::First);
    assert_eq!(seen.check(id, content_hash(&yes), 2, "r1"), Seen::Duplicate);
    assert_eq!(seen.check(id, content_hash(&no), 3, "r1"), Seen::Conflict);
    assert_eq!(
        seen.check(id_hash("r2"), content_hash(&no), 4, "r2"),
        Seen::First
    );
    assert_ne!(content_hash(&yes), content_hash(&no));
}

#[test]
fn without_a_spill_every_repeat_is_found_as_it_is_read() {
    let mut seen = SeenIds::with_table(10);
    assert_eq!(keep(&mut seen, "a", 1, 1, Outcome::Pass), Seen::First);
    assert_eq!(keep(&mut seen, "a", 2, 2, Outcome::Pass), Seen::Conflict);
    seen.end_chunk().unwrap();
    assert!(seen.spill.is_none());
    assert_eq!(late(seen), []);
}

#[test]
fn a_repeat_beyond_the_table_is_reported_at_the_end_with_both_lines() {
    let mut seen = SeenIds::with_table(2);
    assert_eq!(keep(&mut seen, "a", 1, 1, Outcome::Pass), Seen::First);
    assert_eq!(keep(&mut seen, "b", 1, 2, Outcome::Pass), Seen::First);
    seen.end_chunk().unwrap();
    // The table was spilled: `a` is not known in memory any more.
    assert_eq!(keep(&mut seen, "a", 2, 3, Outcome::Fail), Seen::First);
    assert_eq!(keep(&mut seen, "c", 1, 4, Outcome::Pass), Seen::First);
    seen.end_chunk().unwrap();
    assert_eq!(keep(&mut seen, "a", 1, 5, Outcome::Unscorable), Seen::First);
    assert_eq!(keep(&mut seen, "b", 1, 6, Outcome::Pass), Seen::First);
    assert_eq!(keep(&mut seen, "b", 1, 7, Outcome::Pass), Seen::Duplicate);
    seen.end_chunk().unwrap();
    assert_eq!(keep(&mut seen, "d", 1, 8, Outcome::Pass), Seen::First);
    let mut found = late(seen);
    found.sort_by_key(|repeat| repeat.line);
    let repeat = |request_id: &str, line, first_line, outcome, conflict| LateRepeat {
        request_id: request_id.to_string(),
        line,
        first_line,
        outcome,
        conflict,
    };
    assert_eq!(
        found,
        [
            repeat("a", 3, 1, Outcome::Fail, true),
            repeat("a", 5, 1, Outcome::Unscorable, false),
            repeat("b", 6, 2, Outcome::Pass, false),
        ]
    );
}

#[test]
fn runs_of_long_ids_are_read_back_across_buffer_boundaries() {
    let mut seen = SeenIds::with_table(3);
    let ids: Vec<String> = (0..40)
        .map(|index| format!("{index}-{}", "é".repeat(index * 700)))
        .collect();
    let mut line = 0;
    for round in 0..2 {
        for id in &ids {
            line += 1;
            keep(&mut seen, id, round, line, Outcome::Pass);
            seen.end_chunk().unwrap();
        }
    }
    let found = late(seen);
    assert_eq!(found.len(), ids.len());
    for repeat in &found {
        assert!(repeat.conflict);
        assert_eq!(repeat.line, repeat.first_line + ids.len() as u64);
        assert_eq!(repeat.request_id, ids[repeat.first_line as usize - 1]);
    }
}

#[test]
fn a_kept_row_without_a_verdict_is_an_error_when_spilled_not_a_silent_pass() {
    let mut seen = SeenIds::with_table(1);
    seen.check(id_hash("a"), 1, 1, "a");
    assert!(seen.end_chunk().is_err());
}
