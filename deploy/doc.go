// Package deploy holds no code: its tests check the deployment files at the
// top of the repository (Dockerfile, .dockerignore, docker-compose.yml,
// configs/origin.yml, configs/edge.yml, configs/nginx.conf) against each
// other and against the real config parser, and run the origin → edge →
// nginx cache topology of docs/DEPLOY.md on loopback with real processes.
//
// The tests need nginx (and use docker-compose when it is installed). They
// skip when a tool is missing, except under CI=true, where a missing tool
// fails them: scripts/install-test-deps.sh installs them.
package deploy
