"""Alarms and e-mails: one e-mail per failure, one path per kind of failure.

- A failed execution is mailed by the state machine (NotifyFailure), exactly once per path.
- A schedule that cannot start the run, and a run that times out or is aborted (no state runs to
  report it), are mailed by an alarm each.
- No success in 26 hours is mailed only when none of the above was mailed in that time.

CloudWatch cannot run here: the alarm definitions are read from the template and evaluated on
hourly timelines by a small model of CloudWatch's documented rules (an alarm over N periods
needs M breaching datapoints, missing data as the alarm says; a composite alarm's rule over its
children's states; actions on the transition into ALARM).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.cfn_render import Renderer, state_machine_definition, template
from tests.deploy.test_linters import STATE_MACHINE_SUBSTITUTIONS

FAILURE_TOPIC = {"Fn::ImportValue": {"Fn::Sub": "${Prefix}-FailureTopicArn"}}


def alarms() -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in template("08-monitoring.yaml")["Resources"].items()
            if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")}


def watched(alarm: dict[str, Any]) -> dict[str, int]:
    """Metric name -> period of every metric an alarm reads."""
    if "MetricName" in alarm:
        return {alarm["MetricName"]: alarm["Period"]}
    return {m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Period"]
            for m in alarm.get("Metrics", []) if "MetricStat" in m}


def test_every_failure_path_of_the_state_machine_publishes_exactly_once():
    states = state_machine_definition(STATE_MACHINE_SUBSTITUTIONS)["States"]

    def successors(name: str) -> list[str]:
        state = states[name]
        found = [c["Next"] for c in state.get("Catch", [])]
        found += [c["Next"] for c in state.get("Choices", [])]
        found += [state[k] for k in ("Next", "Default") if k in state]
        return found

    def paths(name: str, seen: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        if name in seen:  # the guard's bounded re-listing loop
            return []
        nxt = successors(name)
        if not nxt:
            return [(*seen, name)]
        return [p for n in nxt for p in paths(n, (*seen, name))]

    publishes = {n for n, s in states.items() if s.get("Resource") == "arn:aws:states:::sns:publish"}
    assert publishes == {"NotifySuccess", "NotifyFailure"}
    every = paths("ResolveRunInput")
    assert len(every) > 10
    for path in every:
        sent = [s for s in path if s in publishes]
        assert len(sent) == 1, path
        assert path[-1] == {"NotifySuccess": "RunSucceeded", "NotifyFailure": "RunFailed"}[sent[0]], path
    # Every step that can fail is caught and goes to the failure e-mail.
    for name in ("GuardAgainstConcurrentRuns", "Ingest", "Transform", "Validate", "Forecast"):
        assert [c["ErrorEquals"] for c in states[name]["Catch"]] == [["States.ALL"]], name


def test_no_alarm_mails_a_failed_execution_the_state_machine_already_mailed():
    for name, alarm in alarms().items():
        if alarm.get("AlarmActions"):
            assert alarm["AlarmActions"] == [FAILURE_TOPIC], name
            assert "ExecutionsFailed" not in watched(alarm), name


def test_the_schedule_alarm_watches_failed_invocations_of_the_daily_rule():
    alarm = alarms()["ScheduleFailedAlarm"]
    assert alarm["Namespace"] == "AWS/Events" and alarm["MetricName"] == "FailedInvocations"
    (dimension,) = alarm["Dimensions"]
    assert dimension["Name"] == "RuleName"
    rule_export = template("07-orchestration.yaml")["Outputs"]["ScheduleRuleName"]
    assert rule_export["Value"] == {"Ref": "DailySchedule"}
    assert dimension["Value"] == {"Fn::ImportValue": rule_export["Export"]["Name"]}
    assert alarm["AlarmActions"] == [FAILURE_TOPIC]


def test_the_26_hour_alarm_counts_every_hour_without_a_success_as_breaching():
    alarm = alarms()["NoSuccessIn26HoursAlarm"]
    assert watched(alarm) == {"ExecutionsSucceeded": 3600}
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    assert "AlarmActions" not in alarm  # mailed through the composite alarm only


# --- a model of CloudWatch over hourly timelines ------------------------------------------

HOURS = 24 * 5


def metric_alarm_states(alarm: dict[str, Any], series: dict[str, list[float]]) -> list[bool]:
    """Per hour, whether the alarm is in ALARM (hourly resolution; a 5-minute alarm with one
    datapoint breaches in the hour its metric has one)."""
    names = watched(alarm)
    hours_per_period = max(names.values()) // 3600 or 1
    assert hours_per_period == 1
    window = alarm["EvaluationPeriods"] if max(names.values()) >= 3600 else 1
    needed = alarm["DatapointsToAlarm"]
    threshold, operator = float(alarm["Threshold"]), alarm["ComparisonOperator"]
    states = []
    for hour in range(HOURS):
        breaching = 0
        for h in range(max(0, hour - window + 1), hour + 1):  # before the timeline: all well
            values = [series[n][h] for n in names if series[n][h] is not None]
            if not values:
                breaching += alarm["TreatMissingData"] == "breaching"
                continue
            value = sum(values)
            breaching += (value >= threshold if operator == "GreaterThanOrEqualToThreshold"
                          else value < threshold)
        states.append(breaching >= needed)
    return states


def mails(events: dict[str, list[int]]) -> dict[str, int]:
    """E-mails sent over the timeline, by sender, for metric events at the given hours."""
    series = {n: [None] * HOURS for n in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed",
                                          "ExecutionsTimedOut", "ExecutionsAborted",
                                          "FailedInvocations")}
    for name, hours in events.items():
        for hour in hours:
            series[name][hour] = (series[name][hour] or 0) + 1
    defined = alarms()
    state = {n: metric_alarm_states(a, series) for n, a in defined.items() if "AlarmRule" not in a}
    for name, alarm in defined.items():
        if "AlarmRule" in alarm:
            rule = Renderer(template("08-monitoring.yaml")).render(alarm["AlarmRule"])
            match = re.fullmatch(r'ALARM\("fake-ref-(\w+)"\) AND NOT \(ALARM\("fake-ref-(\w+)"\) '
                                 r'OR ALARM\("fake-ref-(\w+)"\)\)', rule)
            assert match, rule
            stale, *quiet = match.groups()
            state[name] = [state[stale][h] and not any(state[q][h] for q in quiet)
                           for h in range(HOURS)]
    sent = {n: sum(1 for h in range(HOURS) if state[n][h] and (h == 0 or not state[n][h - 1]))
            for n, a in defined.items() if a.get("AlarmActions")}
    # The state machine mails each failed execution itself.
    sent["NotifyFailure"] = len(events.get("ExecutionsFailed", []))
    return {n: c for n, c in sent.items() if c}


def daily(hour: int, *, skip: tuple[int, ...] = ()) -> list[int]:
    return [day * 24 + hour for day in range(HOURS // 24) if day not in skip]


@pytest.mark.parametrize("why, events, expected", [
    ("a success every day", {"ExecutionsStarted": daily(6), "ExecutionsSucceeded": daily(6)}, {}),
    ("one failed run, then the schedule succeeds again",
     {"ExecutionsStarted": daily(6), "ExecutionsSucceeded": daily(6, skip=(2,)),
      "ExecutionsFailed": [2 * 24 + 6]},
     {"NotifyFailure": 1}),
    ("a run that failed after 3 hours (the 26 hours passed while it ran)",
     {"ExecutionsStarted": daily(6), "ExecutionsSucceeded": daily(6, skip=(2,)),
      "ExecutionsFailed": [2 * 24 + 9]},
     {"NotifyFailure": 1}),
    ("EventBridge could not start one day's run",
     {"ExecutionsStarted": daily(6, skip=(2,)), "ExecutionsSucceeded": daily(6, skip=(2,)),
      "FailedInvocations": [2 * 24 + 6]},
     {"ScheduleFailedAlarm": 1}),
    ("one run timed out after 4 hours",
     {"ExecutionsStarted": daily(6), "ExecutionsSucceeded": daily(6, skip=(2,)),
      "ExecutionsTimedOut": [2 * 24 + 10]},
     {"RunTimedOutOrAbortedAlarm": 1}),
    ("the schedule was disabled after day 1 (nothing fails, nothing runs)",
     {"ExecutionsStarted": daily(6, skip=(2, 3, 4)), "ExecutionsSucceeded": daily(6, skip=(2, 3, 4))},
     {"NoSuccessfulRunIn26HoursAlarm": 1}),
])
def test_each_kind_of_failure_sends_one_email(why: str, events: dict, expected: dict):
    assert mails(events) == expected, why


def test_the_model_would_see_two_emails_if_the_26_hour_alarm_mailed_on_its_own():
    # The composite is what keeps a failed run to one e-mail: mail the plain 26-hour alarm
    # instead and the same failed run sends two.
    events = {"ExecutionsSucceeded": daily(6, skip=(2,)), "ExecutionsFailed": [2 * 24 + 6]}
    series = {n: [None] * HOURS for n in ("ExecutionsSucceeded",)}
    for hour in events["ExecutionsSucceeded"]:
        series["ExecutionsSucceeded"][hour] = 1
    stale = metric_alarm_states(alarms()["NoSuccessIn26HoursAlarm"], series)
    transitions = sum(1 for h in range(1, HOURS) if stale[h] and not stale[h - 1])
    assert transitions == 1  # plus NotifyFailure's own e-mail: two for one failure
