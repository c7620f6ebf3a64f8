"""The trials API routes, included under /api/v1/trials/ in the "api" namespace
(names prefixed trials_)."""

from django.urls import path

from . import api, referral_api

urlpatterns = [
    path("", api.TrialListApi.as_view(), name="trials_list"),
    path("<int:pk>/", api.TrialDetailApi.as_view(), name="trials_detail"),
    path("<int:pk>/criteria/", api.CriteriaApi.as_view(), name="trials_criteria"),
    path("<int:pk>/funnel/", api.FunnelApi.as_view(), name="trials_funnel"),
    path("<int:pk>/suggestions/", api.SuggestionListApi.as_view(), name="trials_suggestions"),
    path(
        "<int:pk>/suggestions/<int:n>/accept/",
        api.SuggestionAcceptApi.as_view(),
        name="trials_suggestion_accept",
    ),
    path(
        "<int:pk>/suggestions/<int:n>/reject/",
        api.SuggestionRejectApi.as_view(),
        name="trials_suggestion_reject",
    ),
    path("matches/", api.MatchListApi.as_view(), name="trials_matches"),
    path("referrals/", referral_api.ReferralListApi.as_view(), name="trials_referrals"),
    path(
        "referrals/<int:pk>/take-up/",
        referral_api.ReferralTakeUpApi.as_view(),
        name="trials_referral_take_up",
    ),
    path("matches/steps/", api.MatchBulkStepApi.as_view(), name="trials_matches_steps"),
    path("matches/<int:pk>/", api.MatchDetailApi.as_view(), name="trials_match"),
    path("matches/<int:pk>/steps/", api.MatchStepApi.as_view(), name="trials_match_steps"),
    path("matches/<int:pk>/checks/", api.MatchCheckApi.as_view(), name="trials_match_checks"),
    path("matches/<int:pk>/reply/", api.MatchReplyApi.as_view(), name="trials_match_reply"),
]
