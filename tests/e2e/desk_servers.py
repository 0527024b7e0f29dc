"""Small local stand-ins for the three desks' APIs, on 127.0.0.1: the endpoints Tierline's
write-back calls, as the vendors document them (paths, methods, auth, status codes, 429 with
Retry-After). Each keeps its records and every request it took, so a test can check what
arrived and how often."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import eventually
from tierline_shared.embedded import free_port


@dataclass
class Record:
    assignee: str | None = None
    group: str | None = None
    notes: list[str] = field(default_factory=list)


class DeskServer:
    """One desk: ``system`` is servicenow, jira or zendesk; ``mode`` is up, slow (answers
    after ``slow_s``) or paced (429 with Retry-After: 1 past ``per_second`` requests in a
    second, as the desks' rate limits answer); stop() and
    start() take it off the network and bring it back on the same port."""

    def __init__(self, system: str, authorization: str) -> None:
        self.system = system
        self.authorization = authorization
        self.port = free_port()
        self.records: dict[str, Record] = {}
        self.requests: list[tuple[str, str]] = []
        self.applied: list[str] = []
        self.refused_auth = 0
        self.paced = 0
        self.mode = "up"
        self.slow_s = 1.5
        self.per_second = 3
        self.lose_answers = 0  # apply the next writes, then answer 502 as a lost response
        self._window = (0, 0)
        self._task: asyncio.Task[None] | None = None
        self._server: uvicorn.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, ref: str) -> None:
        self.records[ref] = Record()

    def writes(self) -> Counter[str]:
        """The writes the desk applied (past auth, pacing and lookup), by method and path."""
        return Counter(self.applied)

    def _routes(self) -> list[Route]:
        if self.system == "servicenow":
            return [Route("/api/now/table/{table}/{ref}", self._servicenow,
                          methods=["GET", "PATCH"])]
        if self.system == "jira":
            return [Route("/rest/api/3/issue/{ref}", self._jira_read, methods=["GET"]),
                    Route("/rest/api/3/issue/{ref}/assignee", self._jira_assign,
                          methods=["PUT"]),
                    Route("/rest/api/3/issue/{ref}/comment", self._jira_comment,
                          methods=["POST"])]
        return [Route("/api/v2/tickets/{ref}", self._zendesk, methods=["GET", "PUT"])]

    async def start(self) -> None:
        app = Starlette(routes=self._routes())
        self._server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve())
        server = self._server
        await eventually(lambda: asyncio.sleep(0, server.started), what="desk server up")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def _gate(self, request: Request) -> tuple[Record | None, Response | None]:
        """Auth, pacing and slowness, as the real desk would apply them."""
        self.requests.append((request.method, request.url.path))
        if request.headers.get("authorization") != self.authorization:
            self.refused_auth += 1
            return None, JSONResponse({"error": "not authenticated"}, status_code=401)
        second = int(time.monotonic())
        self._window = self._window if self._window[0] == second else (second, 0)
        self._window = (second, self._window[1] + 1)
        if self.mode == "paced" and self._window[1] > self.per_second:
            self.paced += 1
            return None, JSONResponse({"error": "too many requests"}, status_code=429,
                                      headers={"Retry-After": "1"})
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        record = self.records.get(request.path_params["ref"])
        if record is None:
            return None, JSONResponse({"error": "no such record"}, status_code=404)
        if request.method != "GET":
            self.applied.append(f"{request.method} {request.url.path}")
        return record, None

    def _answered(self, response: Response) -> Response:
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return JSONResponse({"error": "bad gateway"}, status_code=502)
        return response

    async def _servicenow(self, request: Request) -> Response:
        record, refused = await self._gate(request)
        if refused is not None or record is None:
            return refused or Response(status_code=500)
        if request.method == "PATCH":
            body = await request.json()
            record.assignee = body.get("assigned_to", record.assignee)
            record.group = body.get("assignment_group", record.group)
            if body.get("work_notes"):
                record.notes.append(body["work_notes"])
        response = JSONResponse({"result": {"assigned_to": record.assignee or "",
                                            "assignment_group": record.group or ""}})
        return self._answered(response) if request.method == "PATCH" else response

    async def _jira_read(self, request: Request) -> Response:
        record, refused = await self._gate(request)
        if refused is not None or record is None:
            return refused or Response(status_code=500)
        assignee = {"accountId": record.assignee} if record.assignee else None
        return JSONResponse({"id": request.path_params["ref"], "fields": {"assignee": assignee}})

    async def _jira_assign(self, request: Request) -> Response:
        record, refused = await self._gate(request)
        if refused is not None or record is None:
            return refused or Response(status_code=500)
        record.assignee = (await request.json())["accountId"]
        return self._answered(Response(status_code=204))

    async def _jira_comment(self, request: Request) -> Response:
        record, refused = await self._gate(request)
        if refused is not None or record is None:
            return refused or Response(status_code=500)
        body = await request.json()
        internal = any(p.get("key") == "sd.public.comment" and p["value"].get("internal")
                       for p in body.get("properties", []))
        text = body["body"]["content"][0]["content"][0]["text"]
        record.notes.append(("internal: " if internal else "public: ") + text)
        return self._answered(JSONResponse({"id": str(len(record.notes))}, status_code=201))

    async def _zendesk(self, request: Request) -> Response:
        record, refused = await self._gate(request)
        if refused is not None or record is None:
            return refused or Response(status_code=500)
        if request.method == "PUT":
            ticket = (await request.json())["ticket"]
            record.assignee = str(ticket.get("assignee_id", record.assignee))
            record.group = str(ticket.get("group_id", record.group))
            comment = ticket.get("comment")
            if comment:
                record.notes.append(("public: " if comment.get("public", True)
                                     else "private: ") + comment["body"])
        response = JSONResponse({"ticket": {"id": int(request.path_params["ref"]),
                                            "assignee_id": int(record.assignee)
                                            if record.assignee else None}})
        return self._answered(response) if request.method == "PUT" else response


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


CREDENTIALS: dict[str, tuple[str, dict[str, str], str]] = {
    "servicenow": ("basic", {"username": "tierline.integration", "password": "sn-pass-1e7c9a"},
                   basic("tierline.integration", "sn-pass-1e7c9a")),
    "jira": ("basic", {"email": "bot@acme.example", "api_token": "jira-token-77a0b3"},
             basic("bot@acme.example", "jira-token-77a0b3")),
    "zendesk": ("api_token", {"email": "bot@acme.example", "api_token": "zd-token-4c2f19"},
                basic("bot@acme.example/token", "zd-token-4c2f19")),
}
SECRET_VALUES = ("sn-pass-1e7c9a", "jira-token-77a0b3", "zd-token-4c2f19")


def connection_body(system: str, name: str, base_url: str, **extra: Any) -> dict[str, Any]:
    auth, credentials, _ = CREDENTIALS[system]
    return {"name": name, "system": system, "base_url": base_url, "auth": auth,
            "credentials": credentials, "backoff_s": 0.1, "timeout_s": 1.0,
            "max_attempts": 12, **extra}


async def _serve(system: str, port: int, refs: list[str]) -> None:
    desk = DeskServer(system, CREDENTIALS[system][2])
    desk.port = port
    for ref in refs:
        desk.add(ref)
    await desk.start()
    print(f"{system} stand-in on {desk.base_url}; records {refs}; credentials "
          f"{CREDENTIALS[system][1]}", flush=True)
    try:
        while True:
            await asyncio.sleep(5)
            for ref, record in desk.records.items():
                print(f"{ref}: assignee={record.assignee} group={record.group} "
                      f"notes={record.notes}", flush=True)
    finally:
        await desk.stop()


if __name__ == "__main__":
    # python -m tests.e2e.desk_servers servicenow 8090 <sys_id> ...: a stand-in to try the
    # README's "Connect your desk" against; prints its records every 5 s.
    import sys

    asyncio.run(_serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
