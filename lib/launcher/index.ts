/** `dagy/launcher`: launch runs on ECS Fargate (or locally), validate requests, size tasks. */
export * from "./types";
export * from "./fargate";
export * from "./request";
export * from "./worker-spec";
export * from "../retry";
export * from "./errors";
export * from "./ecs-backend";
export * from "./local-backend";
export * from "./dag-launcher";
