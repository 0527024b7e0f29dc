"""Drives the running services through a scenario: sends each arrival to intake over REST,
plays every simulated agent (accepts what router offers on Kafka, works it for a lognormal
handle time, resolves it or passes it up a tier), and plays the customers (reopen, confirm,
answer the survey). Collects what happened into stories for the report."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from tqdm import tqdm

from tierline_shared.bus.envelope import InvalidMessage, decode
from tierline_shared.bus.events import TicketAssigned
from tierline_shared.clock import ScaledClock
from tierline_shared.sim.plan import Arrival, Draws, arrivals, load_corpus, roster
from tierline_shared.sim.report import Story, summarize
from tierline_shared.sim.scenario import Scenario


@dataclass(frozen=True)
class Endpoints:
    intake: str
    router: str
    bootstrap: str
    routing_topic: str
    api_key: str | None = None
    metrics: str | None = None  # for a staffing round trip


class SimClock(ScaledClock):
    """The services' scaled clock, plus sleeping in simulated time."""

    async def sleep_until(self, at: datetime) -> None:
        delay = (at - self.now()).total_seconds() / self.speed
        if delay > 0:
            await asyncio.sleep(delay)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds / self.speed))


class _Retrying(httpx.AsyncHTTPTransport):
    """Sends a request again, once, when the server closed a kept-alive connection as it
    went out (a read error with nothing read, seen on busy machines). Intake's POSTs carry
    an Idempotency-Key, so a request that did arrive is answered, not applied, again."""

    def __init__(self) -> None:
        super().__init__(limits=httpx.Limits(max_connections=32))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return await super().handle_async_request(request)


class Simulation:
    def __init__(self, scenario: Scenario, endpoints: Endpoints, clock: SimClock,
                 progress: bool = True) -> None:
        self.s, self.e, self.clock, self.progress = scenario, endpoints, clock, progress
        self.draws = Draws(scenario)
        self.agents = roster(scenario)
        self.tier_of = {a: (body["tier"], body.get("max_total", sum(body["channels"].values())))
                        for a, body in self.agents.items()}
        self.stories: dict[str, Story] = {}
        self.busy: dict[str, float] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.errors: list[str] = []
        self.started: set[str] = set()  # tickets an agent has moved to in_progress
        self.offers_seen: set[tuple[str, int]] = set()  # (ticket, attempt) already worked
        self.plan: list[dict[str, Any]] = []  # the staffing plan, per interval
        self.early: dict[str, list[TicketAssigned]] = {}  # offers read before the POST's answer
        self.http = httpx.AsyncClient(timeout=30, transport=_Retrying(),
                                      headers={"X-API-Key": endpoints.api_key}
                                      if endpoints.api_key else None)

    async def run(self, exclusive: bool = False) -> dict[str, Any]:
        plan = arrivals(self.s, load_corpus())
        if self.s.staffing is not None:
            await self._staffing_plan()
        await self._roster(exclusive)
        consumer = AIOKafkaConsumer(self.e.routing_topic, bootstrap_servers=self.e.bootstrap,
                                    group_id=None, auto_offset_reset="latest",
                                    fetch_max_wait_ms=50)
        await consumer.start()
        await consumer.getmany(timeout_ms=500)  # partitions assigned before the first send
        reader = asyncio.create_task(self._read(consumer))
        shifts = asyncio.create_task(self._shifts()) if self.plan else None
        try:
            await self._send(plan)
            end = self.s.start + timedelta(minutes=self.s.duration_minutes + self.s.drain_minutes)
            while self.clock.now() < end and not self._all_settled():
                await self.clock.sleep(30)
            if self.s.exact:
                await self._router_steps()
        finally:
            reader.cancel()
            if shifts is not None:
                shifts.cancel()
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(reader, *self.tasks, return_exceptions=True)
            await consumer.stop()
            await self.http.aclose()
        span = (self.clock.now() - self.s.start).total_seconds()
        summary = summarize(list(self.stories.values()), self.busy, self.tier_of, span,
                            self.s.service_level_seconds)
        if self.plan:
            summary["staffing_plan"] = self.plan
        summary["errors"] = len(self.errors)
        summary["error_samples"] = self.errors[:5]
        return summary

    async def _staffing_plan(self) -> None:
        """Ask metrics how many agents each interval needs; roster that many at the peak."""
        staffing = self.s.staffing
        assert staffing is not None and self.e.metrics is not None, "staffing needs metrics"
        group = self.s.agents[0]
        r = await self.http.post(f"{self.e.metrics}/v1/staffing/plan", json={
            "volumes": staffing.volumes, "interval_minutes": staffing.interval_minutes,
            "aht_s": self.s.handle_time[group.tier].mean_s,
            "service_level": staffing.service_level,
            "answer_within_s": self.s.service_level_seconds,
            "max_occupancy": staffing.max_occupancy, "shrinkage": 0})
        r.raise_for_status()
        self.plan = r.json()["intervals"]
        peak = max(row["agents"] for row in self.plan)
        self.s = self.s.model_copy(update={"agents": [group.model_copy(update={"count": peak})]})
        self.agents = roster(self.s)
        self.tier_of = {a: (body["tier"], body.get("max_total", sum(body["channels"].values())))
                        for a, body in self.agents.items()}
        first = self.plan[0]["agents"]
        for n, body in enumerate(self.agents.values()):
            body["presence"] = "available" if n < first else "away"

    async def _shifts(self) -> None:
        """At each interval's start, the plan's number of agents available, the rest away."""
        staffing = self.s.staffing
        assert staffing is not None
        ids = list(self.agents)
        on = self.plan[0]["agents"]
        for row in self.plan[1:]:
            at = self.s.start + timedelta(minutes=row["index"] * staffing.interval_minutes)
            await self.clock.sleep_until(at)
            want = row["agents"]
            changes = [(a, "available") for a in ids[on:want]] + \
                [(a, "away") for a in ids[want:on]]
            await asyncio.gather(*(self.http.put(f"{self.e.router}/v1/agents/{a}/presence",
                                                 json={"presence": p}) for a, p in changes))
            on = want

    async def _router_steps(self) -> None:
        """Router's own record of each ticket (when it first saw it, whether it queued it,
        when it freed the agent), to tell the routing policy from the time between hops."""
        gate = asyncio.Semaphore(16)

        async def one(story: Story) -> None:
            async with gate:
                r = await self.http.get(
                    f"{self.e.router}/v1/assignments/{story.ticket_id}/history")
            if r.status_code != 200:
                self.errors.append(f"history {r.status_code}: {r.text[:200]}")
                return
            for item in r.json()["items"]:
                at = datetime.fromisoformat(item["at"])
                if item["action"] in ("offered", "queued") and story.routed_at is None:
                    story.routed_at = at
                story.queued = story.queued or item["action"] == "queued"
                if item["action"] == "released" and story.released_at is None:
                    story.released_at = at

        await asyncio.gather(*(one(s) for s in self.stories.values()))

    def _all_settled(self) -> bool:
        return bool(self.stories) and all(
            s.resolved_at is not None or not s.offers or s.abandoned
            for s in self.stories.values()) and not self.tasks

    async def _roster(self, exclusive: bool) -> None:
        items = [{"id": agent_id, **body} for agent_id, body in self.agents.items()]
        for i in range(0, len(items), 1000):
            r = await self.http.post(f"{self.e.router}/v1/agents/import",
                                     json={"agents": items[i:i + 1000]})
            r.raise_for_status()
        if exclusive:  # nobody but the simulated agents takes the scenario's work
            offset = 0
            while True:
                page = (await self.http.get(f"{self.e.router}/v1/agents", params={
                    "limit": 500, "offset": offset})).json()
                for agent in page["items"]:
                    if agent["id"] not in self.agents and agent["presence"] != "offline":
                        await self.http.put(f"{self.e.router}/v1/agents/{agent['id']}/presence",
                                            json={"presence": "offline"})
                offset += 500
                if offset >= page["total"]:
                    break

    async def _send(self, plan: list[Arrival]) -> None:
        """Each arrival is sent at its time in a task of its own, so a slow answer never
        delays the next arrival: the process stays Poisson."""
        bar = tqdm(total=len(plan), desc=f"{self.s.name}", unit="ticket",
                   disable=not self.progress)
        sent = []
        for arrival in plan:
            await self.clock.sleep_until(arrival.at)
            sent.append(self._spawn(self._arrive(arrival, bar)))
        await asyncio.gather(*sent, return_exceptions=True)  # errors: see _done
        bar.close()

    async def _arrive(self, arrival: Arrival, bar: Any) -> None:
        body = {"title": arrival.title, "description": arrival.description,
                "requester": {"id": arrival.customer}, "channel": arrival.channel,
                "priority_override": {"priority": arrival.priority, "by": "simulator",
                                      "reason": "scenario mix"}}
        if self.s.exact:
            body |= {"category": arrival.category, "type": arrival.ticket_type}
        sent = self.clock.now()  # the customer's arrival: the request's wait counts
        r = await self.http.post(f"{self.e.intake}/v1/tickets", json=body,
                                 headers={"Idempotency-Key": f"sim-{uuid.uuid4()}"})
        bar.update(1)
        if r.status_code != 201:
            self.errors.append(f"POST /v1/tickets {r.status_code}: {r.text[:200]}")
            return
        tid = r.json()["id"]
        story = self.stories[tid] = Story(
            ticket_id=tid, arrived=sent, channel=arrival.channel, priority=arrival.priority,
            category=arrival.category)
        for event in self.early.pop(tid, []):  # offered before intake's answer came back
            self._offered(story, event)
        patience = story.patience_s = self.draws.patience_seconds()
        if patience is not None:
            self._spawn(self._abandon(story, patience))

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(InvalidMessage):
                        envelope = decode(record.headers, record.value)
                        event = envelope.event
                        if not isinstance(event, TicketAssigned) or \
                                event.agent_id not in self.agents:
                            continue
                        story = self.stories.get(str(event.ticket_id))
                        if story is None:  # ours, perhaps, before intake answered the POST
                            self.early.setdefault(str(event.ticket_id), []).append(event)
                        else:
                            self._offered(story, event)

    def _offered(self, story: Story, event: TicketAssigned) -> None:
        offer = (story.ticket_id, event.attempt)
        if offer in self.offers_seen:  # Kafka may redeliver
            return
        self.offers_seen.add(offer)
        story.offers.append((event.assigned_at, event.agent_id, event.agent_tier))
        self._spawn(self._work(story, event.agent_id, event.agent_tier, event.attempt,
                               accept=True))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(repr(task.exception()))

    async def _abandon(self, story: Story, patience_s: float) -> None:
        """The customer gives up if no agent has been offered the ticket by then: the ticket
        is resolved as abandoned, which takes it out of router's queue."""
        await self.clock.sleep_until(story.arrived + timedelta(seconds=patience_s))
        if story.offers:
            return
        story.abandoned = True
        await self._event(story, {"type": "status_change", "status": "resolved",
                                  "actor": "customer", "resolution_notes": "abandoned: the "
                                  "customer left the queue"})

    async def _event(self, story: Story, body: dict[str, Any]) -> httpx.Response:
        r = await self.http.post(f"{self.e.intake}/v1/tickets/{story.ticket_id}/events",
                                 json=body, headers={"Idempotency-Key": f"sim-{uuid.uuid4()}"})
        if r.status_code >= 400:
            self.errors.append(f"{body['type']} {r.status_code}: {r.text[:200]}")
        return r

    async def _held_again(self, story: Story) -> dict[str, Any]:
        """Router's answer to a reopen (it reads it from Kafka): back with its agent, offered
        to another, or waiting. Polled for up to ten real seconds."""
        for _ in range(50):
            got = await self.http.get(f"{self.e.router}/v1/assignments/{story.ticket_id}")
            held: dict[str, Any] = got.json() if got.status_code == 200 else {}
            if held.get("status") in ("offered", "accepted"):
                return held
            await asyncio.sleep(0.2)
        return {}

    async def _work(self, story: Story, agent: str, tier: int, attempt: int,
                    accept: bool) -> None:
        if accept:
            await self.clock.sleep(self.s.outcomes.accept_after_seconds)
            r = await self.http.post(f"{self.e.router}/v1/assignments/{story.ticket_id}/accept",
                                     json={"agent_id": agent})
            if r.status_code != 200:
                return  # the offer moved on (escalated or withdrawn) before we answered
            if story.accepted_at is None:
                story.accepted_at = self.clock.now()
            if story.ticket_id not in self.started:  # new, or reopened since
                self.started.add(story.ticket_id)
                await self._event(story, {"type": "status_change", "status": "in_progress",
                                          "actor": agent})
        handle = self.draws.handle_seconds(tier)
        await self.clock.sleep(handle)
        self.busy[agent] = self.busy.get(agent, 0.0) + handle
        story.handle_s = handle
        if self.draws.escalates(tier):
            story.escalated = True
            await self._event(story, {"type": "reassignment_request", "requested_by": agent,
                                      "reason": "needs a higher tier", "to_tier": tier + 1})
            return
        story.resolving_at = self.clock.now()
        r = await self._event(story, {"type": "status_change", "status": "resolved",
                                      "actor": agent, "resolution_notes": "fixed in simulation"})
        if r.status_code != 200:
            return
        story.resolved_at = self.clock.now()
        await self.clock.sleep(self.s.outcomes.confirm_after_minutes * 60)
        if not story.reopened and self.draws.reopens():
            story.reopened, story.resolved_at = True, None
            self.started.discard(story.ticket_id)
            await self._event(story, {"type": "customer_reply", "fixed": False,
                                      "text": "It is broken again."})
            held = await self._held_again(story)
            if held.get("agent_id") == agent and held.get("status") == "accepted" \
                    and held.get("attempt") == attempt:  # came back to us, not re-offered
                await self._work(story, agent, tier, attempt, accept=False)
            return  # otherwise router offered it anew (perhaps to us), and we read that
        await self._event(story, {"type": "customer_reply", "fixed": True})
        score = self.draws.csat(story.wait_s or 0.0, story.escalated, story.reopened)
        if score is not None:
            story.csat = score
            await self._event(story, {"type": "csat", "score": score})
