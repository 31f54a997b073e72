// Package slack benchmarks the Slack command flow (internal/bridge
// commands.go, commands_run.go behind internal/slack's HTTP handler)
// against taskipfake and slackfake on loopback:
//
//   - TestSlackE2EAck (TICKETSYNC_BENCH=1) fires 100 signed slash commands
//     at once with TaskIP answering 500 ms late and times each HTTP
//     acknowledgement, then waits for every command's work to finish;
//   - TestSlackE2EThread (TICKETSYNC_BENCH=1) sends 200 message events in a
//     ticket thread, 20 ms apart, and times event sent → note or reply POST
//     arriving at TaskIP;
//   - TestSlackPacing (TICKETSYNC_BENCH=1) hands 40, then 60 new tickets to
//     the watch at once against slackfake limiting posts per channel as
//     Slack does, and times ticket handed over → parent posted.
//
// README.md in this directory says how to run them and what each figure
// means.
package slack
