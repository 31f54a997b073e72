package main

import (
	"context"
	"fmt"
	"io"
)

func demoCmd(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprint(stdout, `ticketsync demo: the scripted end-to-end demo is not yet available.
What exists today:
  - the daemon: mail intake to tickets and a Slack thread per ticket  (ticketsync run --config FILE)
  - the TaskIP client for every endpoint    (ticketsync ticket help)
  - an in-memory TaskIP server               (ticketsync fake-taskip --listen 127.0.0.1:8081 --secret-key demo-key)
  - configuration loading and validation     (ticketsync check-config --config config.example.yaml)
  - the state file as JSON                   (ticketsync state dump --config FILE)
Try:
  ticketsync fake-taskip --listen 127.0.0.1:8081 --secret-key demo-key &
  TASKIP_BASE_URL=http://127.0.0.1:8081/api/public-v1 TASKIP_SECRET_KEY=demo-key ticketsync ticket list
`)
	return 0
}
