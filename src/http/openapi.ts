import { z } from 'zod';
import { ERROR_CODES } from '../protocol.js';
import type { ApiSchemas } from './schemas.js';

/**
 * The OpenAPI 3.1 document served at `GET /v1/openapi.json` (and kept in docs/openapi.json).
 * Request bodies and query parameters come from the same zod schemas that validate requests, so
 * the document cannot drift from what the broker accepts; replies are described here by hand.
 */
export function createOpenApiDocument(schemas: ApiSchemas): Record<string, unknown> {
  const body = (schema: z.ZodType | Record<string, unknown>) => ({
    required: true,
    content: {
      'application/json': { schema: schema instanceof z.ZodType ? jsonSchema(schema) : schema },
    },
  });
  // The schemas' "exactly one of room, rooms" is a refinement, which JSON Schema output drops.
  const publishBody = { ...jsonSchema(schemas.publish), oneOf: ROOM_CHOICE };
  const batchBody = jsonSchema(schemas.batch) as { properties: { messages: Record<string, unknown> } };
  batchBody.properties.messages = {
    ...batchBody.properties.messages,
    items: { ...(batchBody.properties.messages.items as object), oneOf: ROOM_CHOICE },
  };
  const ok = (description: string, props: Record<string, unknown>) => ({
    description,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['ok', ...Object.keys(props)],
          properties: { ok: { const: true }, ...props },
        },
      },
    },
  });
  const roomParam = {
    name: 'room',
    in: 'path',
    required: true,
    description: 'the room name, URL-encoded (chat%2Fmain)',
    schema: { type: 'string' },
  };
  const results = { type: 'array', items: { $ref: '#/components/schemas/PublishResult' } };
  const api = (summary: string, extra: Record<string, unknown>, reply: Record<string, unknown>) => ({
    summary,
    security: [{ apiKey: [] }],
    ...extra,
    responses: { '200': reply, ...errorResponses },
  });

  return {
    openapi: '3.1.0',
    info: {
      title: 'roomcast server API',
      version: '1',
      description:
        'Server-to-server HTTP API and Server-Sent Events of roomcast. See docs/api.md for the prose, the query shapes and the error catalogue.',
    },
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'a namespace API key' },
        userToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'a user JWT (or ?token=)',
        },
      },
      schemas: componentSchemas,
      responses: {
        Error: {
          description: 'a failure',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Failure' } } },
        },
      },
    },
    paths: {
      '/v1/publish': {
        post: api(
          'Publish one message to a room or to each of several rooms',
          { requestBody: body(publishBody) },
          ok('one result per room', { results }),
        ),
      },
      '/v1/batch': {
        post: api(
          'Publish several messages; order is kept per room',
          { requestBody: body(batchBody) },
          ok('one result per message and room, in batch order', { results }),
        ),
      },
      '/v1/rooms': {
        get: api(
          'Rooms with members, cluster-wide',
          { parameters: queryParams(schemas.rooms) },
          ok('rooms', { rooms: { type: 'array', items: { $ref: '#/components/schemas/RoomStat' } } }),
        ),
      },
      '/v1/rooms/{room}/presence': {
        get: api(
          'Members of a room, cluster-wide',
          { parameters: [roomParam, ...queryParams(schemas.presence)] },
          ok('members', { members: { type: 'array', items: { $ref: '#/components/schemas/Member' } } }),
        ),
      },
      '/v1/rooms/{room}/history': {
        get: api(
          'Messages after an offset, or the latest ones',
          { parameters: [roomParam, ...queryParams(schemas.history)] },
          ok('history', {
            messages: { type: 'array', items: { $ref: '#/components/schemas/Envelope' } },
            offset: { type: 'integer' },
            epoch: { type: 'string' },
            recovered: { type: 'boolean' },
          }),
        ),
      },
      '/v1/disconnect': {
        post: api(
          'Close every connection of a user, cluster-wide',
          { requestBody: body(schemas.disconnect) },
          ok('connections closed', { disconnected: { type: 'integer' } }),
        ),
      },
      '/v1/events': {
        get: {
          summary: 'Server-Sent Events: subscribe to rooms with a user JWT',
          security: [{ userToken: [] }],
          parameters: [
            ...queryParams(schemas.events),
            {
              name: 'Last-Event-ID',
              in: 'header',
              required: false,
              schema: { type: 'string' },
              description: 'resume every room of the stream',
            },
          ],
          responses: {
            '200': {
              description: 'an event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            ...errorResponses,
          },
        },
      },
      '/healthz': {
        get: { summary: 'Liveness', responses: { '200': { description: 'the process serves' } } },
      },
      '/readyz': {
        get: {
          summary: 'Readiness',
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready (Redis away)' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: {
            '200': {
              description: 'text exposition format',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
      '/v1/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
  };
}

const ROOM_CHOICE = [{ required: ['room'] }, { required: ['rooms'] }];

const errorResponses = Object.fromEntries(
  ['400', '401', '403', '404', '413', '429', '500', '503'].map((status) => [
    status,
    { $ref: '#/components/responses/Error' },
  ]),
);

const position = { offset: { type: 'integer', minimum: 0 }, epoch: { type: 'string' } };
const componentSchemas = {
  Failure: {
    type: 'object',
    required: ['ok', 'error'],
    properties: {
      ok: { const: false },
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { enum: [...ERROR_CODES] }, message: { type: 'string' } },
      },
    },
  },
  PublishResult: {
    type: 'object',
    required: ['room', 'offset', 'epoch'],
    properties: { room: { type: 'string' }, ...position },
  },
  Envelope: {
    type: 'object',
    required: ['id', 'room', 'event', 'data', 'offset', 'epoch', 'ts', 'from'],
    properties: {
      id: { type: 'string' },
      room: { type: 'string' },
      event: { type: 'string' },
      data: {},
      ...position,
      ts: { type: 'integer', description: 'ms since the Unix epoch' },
      from: {
        oneOf: [{ type: 'null' }, { type: 'object', properties: { sub: { type: 'string' }, info: {} } }],
      },
    },
  },
  Member: {
    type: 'object',
    properties: { sub: { type: 'string' }, info: {}, connections: { type: 'integer' } },
  },
  RoomStat: {
    type: 'object',
    properties: { room: { type: 'string' }, members: { type: 'integer' }, connections: { type: 'integer' } },
  },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/** The properties of a query-string schema as OpenAPI parameters. */
function queryParams(schema: z.ZodType): Array<Record<string, unknown>> {
  const json = jsonSchema(schema) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: 'query',
      required: json.required?.includes(name) ?? false,
      ...(description ? { description } : {}),
      schema: rest,
      ...(Array.isArray(rest.anyOf) ? { explode: true } : {}),
    };
  });
}
