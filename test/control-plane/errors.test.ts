// The error catalogue: codes, statuses, and messages that name the bad value.
import t from 'tap';
import { ApiError, ErrorCatalogue, describeValidation, fromFastifyError } from '../../src/control-plane/errors.ts';

t.test('each code carries its catalogue status', async (t) => {
  t.equal(new ApiError('InvalidInstanceType', 'x').statusCode, 400);
  t.equal(new ApiError('InvalidInstanceID.NotFound', 'x').statusCode, 404);
  t.equal(new ApiError('CardUnavailable', 'x').statusCode, 502);
  t.equal(new ApiError('InsufficientInstanceCapacity', 'x').statusCode, 503);
  t.equal(new ApiError('Unauthorized', 'x').statusCode, 401);
  for (const [code, e] of Object.entries(ErrorCatalogue)) t.ok(e.status >= 400 && e.status < 600, code);
});

t.test('fastify errors map onto the catalogue', async (t) => {
  t.equal(fromFastifyError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415, message: 'bad type' }).code, 'InvalidParameterValue');
  t.equal(fromFastifyError({ statusCode: 404, message: 'nope' }).code, 'RouteNotFound');
  const internal = fromFastifyError({ message: 'kaboom' });
  t.equal(internal.code, 'InternalError');
  t.equal(internal.message, 'Internal error', 'internal details are not leaked');
});

t.test('validation messages name the offending value', async (t) => {
  const err = { message: 'body/count must be <= 20', validationContext: 'body',
    validation: [{ instancePath: '/count', message: 'must be <= 20', params: {} }] };
  t.equal(describeValidation(err, { body: { count: 50 } }), 'body/count must be <= 20 (got 50)');
  const nested = { message: '', validationContext: 'body',
    validation: [{ instancePath: '/volumes/0/deviceName', message: 'must match pattern', params: {} }] };
  t.equal(describeValidation(nested, { body: { volumes: [{ deviceName: '/dev/hda' }] } }), 'body/volumes/0/deviceName must match pattern (got "/dev/hda")');
  const extra = { message: '', validationContext: 'body',
    validation: [{ instancePath: '', message: 'must NOT have additional properties', params: { additionalProperty: 'colour' } }] };
  t.equal(describeValidation(extra, { body: {} }), 'body must NOT have additional properties ("colour")');
});
