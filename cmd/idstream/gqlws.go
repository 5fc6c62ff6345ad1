package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// gqlWS is a client of the graphql-transport-ws protocol, for the CLI's subscriptions.
type gqlWS struct {
	conn *websocket.Conn
}

// wsMessage is one message of the protocol.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// dialGraphQLWS connects to server's /graphql, authenticates with connection_init and waits for
// the server's acknowledgement (at most 10 s).
func dialGraphQLWS(ctx context.Context, server serverFlags) (*gqlWS, error) {
	url := "ws" + strings.TrimPrefix(strings.TrimRight(server.URL, "/"), "http") + "/graphql"
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	conn.SetReadLimit(16 << 20)
	ws := &gqlWS{conn: conn}
	if err := ws.send(dctx, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + server.Token}}); err != nil {
		ws.close()
		return nil, err
	}
	for {
		msg, err := ws.next(dctx)
		if err != nil {
			ws.close()
			return nil, fmt.Errorf("%s: no connection_ack: %w", url, err)
		}
		if msg.Type == "connection_ack" {
			return ws, nil
		}
	}
}

func (ws *gqlWS) send(ctx context.Context, msg any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := ws.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// next returns the next message that is not a ping (pings are answered).
func (ws *gqlWS) next(ctx context.Context) (wsMessage, error) {
	for {
		_, b, err := ws.conn.Read(ctx)
		if err != nil {
			if status := websocket.CloseStatus(err); status != -1 {
				var reason string
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					reason = ce.Reason
				}
				return wsMessage{}, fmt.Errorf("the server closed the websocket (%d %s)", status, reason)
			}
			return wsMessage{}, fmt.Errorf("websocket read: %w", err)
		}
		var msg wsMessage
		if err := json.Unmarshal(b, &msg); err != nil {
			return wsMessage{}, fmt.Errorf("websocket: malformed message: %.200s", b)
		}
		if msg.Type == "ping" {
			if err := ws.send(ctx, map[string]any{"type": "pong"}); err != nil {
				return wsMessage{}, err
			}
			continue
		}
		return msg, nil
	}
}

func (ws *gqlWS) close() { _ = ws.conn.Close(websocket.StatusNormalClosure, "") }
