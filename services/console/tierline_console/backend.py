"""The four services' APIs, called with the signed-in person's own key, so each service
still decides what that key may see and do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from tierline_shared.auth.deps import HEADER


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def detail(self) -> str:
        body = self.body
        if isinstance(body, dict):
            detail = body.get("detail", body.get("error", ""))
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                return "; ".join(f"{d.get('field', '')}: {d.get('message', '')}"
                                 for d in detail)
            return str(detail)
        return str(body)


class Backend:
    def __init__(self, url_for: Callable[[str], str], timeout_s: float = 10) -> None:
        self.url_for = url_for
        self.http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, key: str, service: str, method: str, path: str,
                   **kwargs: Any) -> Answer:
        try:
            r = await self.http.request(method, f"{self.url_for(service)}{path}",
                                        headers={HEADER: key}, **kwargs)
        except httpx.HTTPError as exc:
            return Answer(503, {"error": "unavailable", "detail": f"{service}: {exc!r}"})
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return Answer(r.status_code, body)

    async def whoami(self, key: str) -> Answer:
        return await self.call(key, "intake", "GET", "/v1/keys/me")

    async def agent_work(self, key: str, agent_id: str) -> Answer:
        work = await self.call(key, "router", "GET", f"/v1/agents/{agent_id}/offers")
        if not work.ok:
            return work
        items = [*work.body["offers"], *work.body["holding"]]
        tickets = await asyncio.gather(*(self.call(key, "intake", "GET",
                                                   f"/v1/tickets/{i['ticket_id']}")
                                         for i in items))
        for item, ticket in zip(items, tickets, strict=True):
            item["title"] = ticket.body.get("title") if ticket.ok else None
        return work

    async def answer(self, key: str, ticket_id: str, agent_id: str, verb: str) -> Answer:
        return await self.call(key, "router", "POST", f"/v1/assignments/{ticket_id}/{verb}",
                               json={"agent_id": agent_id})

    async def presence(self, key: str, agent_id: str, presence: str) -> Answer:
        return await self.call(key, "router", "PUT", f"/v1/agents/{agent_id}/presence",
                               json={"presence": presence})

    async def assign(self, key: str, ticket_id: str, agent_id: str, reason: str,
                     override: bool) -> Answer:
        return await self.call(key, "router", "POST", f"/v1/assignments/{ticket_id}/assign",
                               json={"agent_id": agent_id, "reason": reason,
                                     "override_capacity": override})

    async def search(self, key: str, params: dict[str, Any]) -> Answer:
        return await self.call(key, "intake", "GET", "/v1/tickets", params=params)

    async def board(self, key: str, now: datetime) -> dict[str, Any]:
        """Everything the wallboard shows, fetched at once; a part that fails is None."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        queues, agents, majors, kpis, sla = await asyncio.gather(
            self.call(key, "router", "GET", "/v1/queues"),
            self.call(key, "router", "GET", "/v1/agents", params={"limit": 500}),
            self.call(key, "sla", "GET", "/v1/major-incidents",
                      params={"status": "declared", "limit": 50}),
            self.call(key, "metrics", "GET", "/v1/reports/kpis", params={
                "from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}),
            self.call(key, "metrics", "GET", "/v1/reports/sla-events",
                      params={"since": day.isoformat(), "limit": 10}))
        waiting: dict[str, list[dict[str, Any]]] = {}
        if queues.ok:
            pages = await asyncio.gather(*(
                self.call(key, "router", "GET", f"/v1/queues/{q['queue']}",
                          params={"limit": 100}) for q in queues.body["items"]))
            waiting = {q["queue"]: p.body["items"] if p.ok else []
                       for q, p in zip(queues.body["items"], pages, strict=True)}
        return {"queues": queues.body["items"] if queues.ok else None, "waiting": waiting,
                "agents": agents.body["items"] if agents.ok else None,
                "majors": majors.body["items"] if majors.ok else None,
                "kpis": kpis.body if kpis.ok else None,
                "sla_events": sla.body["items"] if sla.ok else None}

    async def offer_events(self, key: str, agent_id: str) -> AsyncIterator[str]:
        """The names of the router's offer events for the agent, as they come."""
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client, \
                client.stream("GET", f"{self.url_for('router')}/v1/agents/{agent_id}"
                              "/offers/stream", headers={HEADER: key}) as r:
            if r.status_code != 200:
                return
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    yield line.removeprefix("event: ")
