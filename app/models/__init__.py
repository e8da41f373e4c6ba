"""Table models, one module per aggregate; importing this package registers them all."""

from app.models.event import OutboxEvent
from app.models.job import AuditEvent, SyncJob
from app.models.mis import MisRegistrationGroup
from app.models.plan import MatchDecision, SyncPlanItem
from app.models.results import Result, ResultAnonToken, ResultSuite
from app.models.roster import Class, ClassMembership, Pupil
from app.models.school import ApiKey, School
from app.models.webhook import Webhook, WebhookDelivery

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Class",
    "ClassMembership",
    "MatchDecision",
    "MisRegistrationGroup",
    "OutboxEvent",
    "Pupil",
    "Result",
    "ResultAnonToken",
    "ResultSuite",
    "School",
    "SyncJob",
    "SyncPlanItem",
    "Webhook",
    "WebhookDelivery",
]
