package graph

import (
	"context"

	"github.com/idstream/idstream/graph/model"
)

func (r *mutationResolver) SetUserPassword(ctx context.Context, input model.SetUserPasswordInput) (*model.UserPayload, error) {
	return nil, notWired("setUserPassword")
}

func (r *mutationResolver) ResetUserPassword(ctx context.Context, input model.ResetUserPasswordInput) (*model.ResetUserPasswordPayload, error) {
	return nil, notWired("resetUserPassword")
}

func (r *mutationResolver) CheckUserPassword(ctx context.Context, input model.CheckUserPasswordInput) (*model.CheckUserPasswordPayload, error) {
	return nil, notWired("checkUserPassword")
}

func (r *mutationResolver) ImportUsers(ctx context.Context, input model.ImportUsersInput) (*model.ImportUsersPayload, error) {
	return nil, notWired("importUsers")
}

func (r *mutationResolver) EnrollMfaDevice(ctx context.Context, input model.EnrollMfaDeviceInput) (*model.EnrollMfaDevicePayload, error) {
	return nil, notWired("enrollMfaDevice")
}

func (r *mutationResolver) ActivateMfaDevice(ctx context.Context, input model.ActivateMfaDeviceInput) (*model.MfaDevicePayload, error) {
	return nil, notWired("activateMfaDevice")
}

func (r *mutationResolver) RemoveMfaDevice(ctx context.Context, input model.MfaDeviceRefInput) (*model.DeletePayload, error) {
	return nil, notWired("removeMfaDevice")
}

func (r *mutationResolver) RecordConsent(ctx context.Context, input model.RecordConsentInput) (*model.ConsentPayload, error) {
	return nil, notWired("recordConsent")
}

func (r *mutationResolver) RevokeConsent(ctx context.Context, input model.RevokeConsentInput) (*model.ConsentPayload, error) {
	return nil, notWired("revokeConsent")
}

func (r *mutationResolver) LinkAccount(ctx context.Context, input model.LinkAccountInput) (*model.LinkedAccountPayload, error) {
	return nil, notWired("linkAccount")
}

func (r *mutationResolver) UnlinkAccount(ctx context.Context, input model.UnlinkAccountInput) (*model.DeletePayload, error) {
	return nil, notWired("unlinkAccount")
}
